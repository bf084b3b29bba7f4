#include "pruning/criterion.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <utility>

#include "framework/layers/conv2d.h"
#include "framework/layers/linear.h"

namespace trim {

namespace {

struct Entry {
  const char* name;
  std::function<std::unique_ptr<Criterion>(uint64_t seed)> make;
};

// The registry: adding a criterion is one file with its factory plus one line here.
const std::vector<Entry>& registry() {
  static const std::vector<Entry> r = {
      {"mean_weight", [](uint64_t) { return make_mean_weight_criterion(); }},
      {"l1", [](uint64_t) { return make_l1_criterion(); }},
      {"l2", [](uint64_t) { return make_l2_criterion(); }},
      {"random", [](uint64_t seed) { return make_random_criterion(seed); }},
      {"bn_gamma", [](uint64_t) { return make_bn_gamma_criterion(); }},
      {"mean_signed", [](uint64_t) { return make_mean_signed_criterion(); }},
  };
  return r;
}

}  // namespace

std::unique_ptr<Criterion> make_criterion(const std::string& name, uint64_t seed) {
  for (const auto& e : registry())
    if (name == e.name) return e.make(seed);
  std::string known;
  for (const auto& e : registry()) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw Error("unknown pruning criterion '" + name + "' (known: " + known + ")");
}

std::vector<std::string> criterion_names() {
  std::vector<std::string> v;
  for (const auto& e : registry()) v.push_back(e.name);
  return v;
}

FilterWeights source_filters(const Model& m, const ChannelGroup& g) {
  if (g.source < 0 || g.source >= static_cast<int>(m.layers.size()))
    throw Error("criterion: group '" + g.name + "' does not belong to this model");
  Layer* l = m.layers[static_cast<size_t>(g.source)].get();
  FilterWeights w;
  if (auto* c = dynamic_cast<Conv2d*>(l)) {
    w.data = c->weight.data();
    w.count = c->out_channels;
    w.size = c->in_channels / c->groups * c->kernel * c->kernel;
  } else if (auto* lin = dynamic_cast<Linear*>(l)) {
    w.data = lin->weight.data();
    w.count = lin->out_features;
    w.size = lin->in_features;
  } else {
    throw Error("criterion: layer '" + l->name() + "' (" + l->type() + ") has no filters");
  }
  if (w.count != g.channels)
    throw Error("criterion: layer '" + g.name + "' has " + std::to_string(w.count) + " filters but the group says " +
                std::to_string(g.channels));
  return w;
}

GroupCombine group_combine_from(const std::string& name) {
  if (name == "mean") return GroupCombine::Mean;
  if (name == "sum") return GroupCombine::Sum;
  if (name == "max") return GroupCombine::Max;
  throw Error("unknown group score combination '" + name + "' (known: mean, sum, max)");
}

std::vector<std::string> group_combine_names() { return {"mean", "sum", "max"}; }

std::vector<double> Criterion::group_scores(const Model& m, const ChannelGroup& g) const {
  if (g.sources.size() <= 1) return scores(m, g);
  std::vector<double> out;
  for (size_t k = 0; k < g.sources.size(); ++k) {
    // The group as seen from one source: its filters, its batchnorm.
    ChannelGroup member = g;
    member.source = g.sources[k];
    member.bn = k < g.source_bns.size() ? g.source_bns[k] : -1;
    member.name = m.layers[static_cast<size_t>(member.source)]->name();
    const std::vector<double> s = scores(m, member);
    if (out.empty()) {
      out = s;
      continue;
    }
    for (size_t f = 0; f < out.size(); ++f)
      out[f] = combine == GroupCombine::Max ? std::max(out[f], s[f]) : out[f] + s[f];
  }
  if (combine == GroupCombine::Mean)
    for (double& v : out) v /= static_cast<double>(g.sources.size());
  return out;
}

std::vector<int> lowest_scores(const std::vector<double>& scores, int n) {
  std::vector<int> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    return scores[static_cast<size_t>(a)] < scores[static_cast<size_t>(b)];
  });
  idx.resize(static_cast<size_t>(std::max(0, std::min<int>(n, static_cast<int>(idx.size())))));
  return idx;
}

}  // namespace trim
