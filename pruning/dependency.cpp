#include "pruning/dependency.h"

#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/dropout.h"
#include "framework/layers/linear.h"
#include "framework/layers/pool2d.h"

namespace trim {

const ChannelGroup* GroupAnalysis::find(const std::string& name) const {
  for (const auto& g : groups)
    if (g.name == name) return &g;
  return nullptr;
}

namespace {

// Layers that act on each channel on its own, so channel f in is channel f out.
bool channelwise(Layer* l) {
  return dynamic_cast<ReLU*>(l) || dynamic_cast<ReLU6*>(l) || dynamic_cast<Dropout*>(l) ||
         dynamic_cast<MaxPool2d*>(l) || dynamic_cast<AvgPool2d*>(l) || dynamic_cast<GlobalAvgPool*>(l);
}

// Follows the channels of the source at index i downstream. Returns false (with a reason) when
// they cannot be removed as one group.
bool trace(const Model& m, int i, ChannelGroup& g, std::string& why) {
  Layer* src = m.layers[static_cast<size_t>(i)].get();
  g.name = src->name();
  g.source = i;
  g.channels = src->out_shape()[0];
  bool flattened = false;
  for (size_t j = static_cast<size_t>(i) + 1; j < m.layers.size(); ++j) {
    Layer* l = m.layers[j].get();
    const int jj = static_cast<int>(j);
    if (auto* bn = dynamic_cast<BatchNorm2d*>(l)) {
      (void)bn;
      if (flattened) {
        why = "a batchnorm after the flatten at '" + l->name() + "'";
        return false;
      }
      if (g.bn < 0) g.bn = jj;
      g.followers.push_back(jj);
      continue;
    }
    if (channelwise(l)) continue;
    if (auto* f = dynamic_cast<Flatten*>(l)) {
      const Shape& in = f->in_shape();
      g.spatial = in[1] * in[2];
      flattened = true;
      continue;
    }
    if (auto* c = dynamic_cast<Conv2d*>(l)) {
      if (c->depthwise()) {
        g.followers.push_back(jj);
        continue;
      }
      if (c->groups == 1) {
        g.consumer = jj;
        return true;
      }
      why = "its channels reach the grouped conv '" + l->name() + "' (groups=" + std::to_string(c->groups) +
            "), which surgery does not split";
      return false;
    }
    if (dynamic_cast<Linear*>(l)) {
      g.consumer = jj;
      return true;
    }
    why = "its channels reach '" + l->name() + "' of type '" + l->type() + "', which the analysis does not know";
    return false;
  }
  why = "its outputs are the model's outputs (class scores are never pruned)";
  return false;
}

}  // namespace

GroupAnalysis analyze_groups(const Model& m) {
  if (!m.built()) throw Error("analyze_groups: the model is not built");
  GroupAnalysis a;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    Layer* l = m.layers[i].get();
    auto* c = dynamic_cast<Conv2d*>(l);
    const bool source = (c && c->groups == 1) || dynamic_cast<Linear*>(l);
    if (!source) continue;
    ChannelGroup g;
    std::string why;
    if (trace(m, static_cast<int>(i), g, why))
      a.groups.push_back(g);
    else
      a.notes.push_back("'" + l->name() + "' is not prunable: " + why);
  }
  return a;
}

}  // namespace trim
