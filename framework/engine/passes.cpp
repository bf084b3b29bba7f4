// passes.cpp - drop_dropout and fold_batchnorm: rebuild the layer list from the layers' own
// descriptions, then copy (or fold) the parameters by name.
#include "framework/engine/passes.h"

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/linear.h"

namespace trim {

namespace {

LayerDesc desc_of(const Layer& l) {
  LayerDesc d;
  d.type = l.type();
  d.set("name", l.name());
  l.write_desc(d);
  return d;
}

// Every parameter and buffer of m by "<layer>.<param>". Model::params() is not const but only
// hands out pointers; the passes read through them and never write.
std::map<std::string, const Tensor*> param_map(const Model& m) {
  std::map<std::string, const Tensor*> out;
  for (const auto& p : const_cast<Model&>(m).params()) out[p.name] = p.value;
  return out;
}

// Builds a model from descriptions and copies every parameter that exists in src under the same
// name and shape; `fill` then sets the ones that do not (folded layers).
Model rebuild(const Model& src, const std::vector<LayerDesc>& descs,
              const std::function<void(Model&)>& fill) {
  if (!src.built()) throw Error("inference pass: the model is not built");
  Model m;
  m.input = src.input;
  for (const auto& d : descs) m.add(make_layer(d));
  m.build();
  m.class_names = src.class_names;
  const auto from = param_map(src);
  for (auto& p : m.params()) {
    auto it = from.find(p.name);
    if (it != from.end() && it->second->shape() == p.value->shape()) *p.value = *it->second;
  }
  fill(m);
  return m;
}

}  // namespace

Model drop_dropout(const Model& m) {
  std::vector<LayerDesc> descs;
  for (const auto& l : m.layers)
    if (l->type() != "dropout") descs.push_back(desc_of(*l));
  // Nothing but dropout: a model needs a layer, and the input is already K x 1 x 1 (the output
  // of every model is), so one flatten is the identity that stands for them.
  if (descs.empty() && !m.layers.empty()) {
    LayerDesc d;
    d.type = "flatten";
    d.set("name", m.layers.front()->name());
    descs.push_back(d);
  }
  return rebuild(m, descs, [](Model&) {});
}

Model fold_batchnorm(const Model& m) {
  struct Fold {
    std::string layer;  // conv or linear
    const Layer* src;   // the conv or linear in m
    const BatchNorm2d* bn;
  };
  std::vector<Fold> folds;
  std::vector<LayerDesc> descs;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer* l = m.layers[i].get();
    const auto* bn = i + 1 < m.layers.size() ? dynamic_cast<const BatchNorm2d*>(m.layers[i + 1].get()) : nullptr;
    const bool foldable = dynamic_cast<const Conv2d*>(l) || dynamic_cast<const Linear*>(l);
    LayerDesc d = desc_of(*l);
    if (bn && foldable) {
      d.set("bias", 1);
      folds.push_back({l->name(), l, bn});
      descs.push_back(d);
      ++i;  // the batch norm disappears
      continue;
    }
    descs.push_back(d);
  }
  return rebuild(m, descs, [&](Model& out) {
    for (const Fold& f : folds) {
      Layer* dst = out.find(f.layer);
      Tensor *w = nullptr, *b = nullptr;
      const Tensor *w0 = nullptr, *b0 = nullptr;
      int channels = 0;
      if (auto* c = dynamic_cast<Conv2d*>(dst)) {
        const auto* s = static_cast<const Conv2d*>(f.src);
        w = &c->weight, b = &c->bias, w0 = &s->weight, b0 = s->has_bias ? &s->bias : nullptr;
        channels = c->out_channels;
      } else {
        auto* lin = static_cast<Linear*>(dst);
        const auto* s = static_cast<const Linear*>(f.src);
        w = &lin->weight, b = &lin->bias, w0 = &s->weight, b0 = s->has_bias ? &s->bias : nullptr;
        channels = lin->out_features;
      }
      if (f.bn->channels != channels)
        throw Error("fold_batchnorm: batchnorm '" + f.bn->name() + "' has " + std::to_string(f.bn->channels) +
                    " channels but '" + f.layer + "' produces " + std::to_string(channels));
      const size_t per = w0->numel() / static_cast<size_t>(channels);
      for (int c = 0; c < channels; ++c) {
        // Double for the scale: var + eps may be tiny and gamma large.
        const double s = f.bn->gamma[c] / std::sqrt(static_cast<double>(f.bn->running_var[c]) + f.bn->eps);
        for (size_t j = 0; j < per; ++j) (*w)[c * per + j] = static_cast<float>((*w0)[c * per + j] * s);
        const double bias = b0 ? (*b0)[c] : 0.0;
        (*b)[c] = static_cast<float>((bias - f.bn->running_mean[c]) * s + f.bn->beta[c]);
      }
    }
  });
}

Model optimize_for_inference(const Model& m) { return fold_batchnorm(drop_dropout(m)); }

}  // namespace trim
