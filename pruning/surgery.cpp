#include "pruning/surgery.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "framework/layers/conv2d.h"
#include "framework/layers/linear.h"

namespace trim {

namespace {

// Copies src into dst keeping rows `rows` of axis 0 and columns `cols` of axis 1 (empty: all),
// every trailing axis whole. Shapes are checked, so a bookkeeping mistake fails loudly.
void copy_selected(Tensor& dst, const Tensor& src, const std::vector<int>* rows, const std::vector<int>* cols,
                   const std::string& what) {
  const Shape& s = src.shape();
  const int d0 = s.rank() > 0 ? s[0] : 1, d1 = s.rank() > 1 ? s[1] : 1;
  size_t inner = 1;
  for (int k = 2; k < s.rank(); ++k) inner *= static_cast<size_t>(s[k]);
  const int n0 = rows ? static_cast<int>(rows->size()) : d0;
  const int n1 = cols ? static_cast<int>(cols->size()) : d1;
  Shape want = s;
  if (want.rank() > 0) want[0] = n0;
  if (want.rank() > 1) want[1] = n1;
  check_shape(dst.shape(), want, "surgery: " + what);
  for (int r = 0; r < n0; ++r) {
    const int r0 = rows ? (*rows)[static_cast<size_t>(r)] : r;
    for (int c = 0; c < n1; ++c) {
      const int c0 = cols ? (*cols)[static_cast<size_t>(c)] : c;
      std::memcpy(dst.data() + (static_cast<size_t>(r) * n1 + c) * inner,
                  src.data() + (static_cast<size_t>(r0) * d1 + c0) * inner, inner * sizeof(float));
    }
  }
}

}  // namespace

Model prune_channels(const Model& m, const ChannelRemoval& remove, int min_channels) {
  return prune_channels(m, analyze_groups(m), remove, min_channels);
}

Model prune_channels(const Model& m, const GroupAnalysis& a, const ChannelRemoval& remove, int min_channels) {
  const size_t n = m.layers.size();
  // Per layer: kept output channels and kept input columns (nullopt-like: empty + flag).
  std::vector<std::vector<int>> out_keep(n), in_keep(n);
  std::vector<char> has_out(n, 0), has_in(n, 0);

  for (const auto& kv : remove) {
    const ChannelGroup* g = a.find(kv.first);
    if (!g) {
      std::string known;
      for (const auto& x : a.groups) known += (known.empty() ? "" : ", ") + x.name;
      throw Error("surgery: '" + kv.first + "' is not a prunable layer (prunable: " + known + ")");
    }
    if (kv.second.empty()) continue;
    std::vector<char> gone(static_cast<size_t>(g->channels), 0);
    for (int f : kv.second) {
      if (f < 0 || f >= g->channels)
        throw Error("surgery: channel " + std::to_string(f) + " of layer '" + g->name + "' is out of range (it has " +
                    std::to_string(g->channels) + ")");
      if (gone[static_cast<size_t>(f)])
        throw Error("surgery: channel " + std::to_string(f) + " of layer '" + g->name + "' is listed twice");
      gone[static_cast<size_t>(f)] = 1;
    }
    std::vector<int> keep;
    for (int f = 0; f < g->channels; ++f)
      if (!gone[static_cast<size_t>(f)]) keep.push_back(f);
    const int floor_ = std::max(1, min_channels);
    if (static_cast<int>(keep.size()) < floor_ && static_cast<int>(keep.size()) < g->channels)
      throw Error("surgery: refusing to prune layer '" + g->name + "' from " + std::to_string(g->channels) + " to " +
                  std::to_string(keep.size()) + " channels: at least min_channels=" + std::to_string(floor_) +
                  " must remain");
    auto set_out = [&](int idx) {
      if (has_out[static_cast<size_t>(idx)])
        throw Error("surgery: layer '" + m.layers[static_cast<size_t>(idx)]->name() + "' belongs to two groups");
      has_out[static_cast<size_t>(idx)] = 1;
      out_keep[static_cast<size_t>(idx)] = keep;
    };
    set_out(g->source);
    for (int f : g->followers) set_out(f);
    std::vector<int> cols;
    for (int f : keep)
      for (int s = 0; s < g->spatial; ++s) cols.push_back(f * g->spatial + s);
    has_in[static_cast<size_t>(g->consumer)] = 1;
    in_keep[static_cast<size_t>(g->consumer)] = cols;
  }

  // New layers from the old descriptions with the channel counts changed.
  Model out;
  out.input = m.input;
  out.class_names = m.class_names;
  for (size_t i = 0; i < n; ++i) {
    Layer* l = m.layers[i].get();
    LayerDesc d;
    d.type = l->type();
    d.file = "<surgery>";
    l->write_desc(d);
    d.set("name", l->name());
    if (has_out[i]) {
      const int k = static_cast<int>(out_keep[i].size());
      if (auto* c = dynamic_cast<Conv2d*>(l)) {
        d.set("filters", k);
        if (c->depthwise()) d.set("groups", k);
      } else if (dynamic_cast<Linear*>(l)) {
        d.set("out", k);
      }
    }
    out.add(make_layer(d));
  }
  try {
    out.build();
  } catch (const Error& e) {
    throw Error(std::string("surgery produced an inconsistent model (a bug in the dependency analysis): ") + e.what());
  }

  // Weights: rows of every pruned layer, input columns of every consumer.
  for (size_t i = 0; i < n; ++i) {
    auto po = m.layers[i]->params();
    auto pn = out.layers[i]->params();
    if (po.size() != pn.size()) throw Error("surgery: layer '" + m.layers[i]->name() + "' changed its parameter list");
    auto* conv = dynamic_cast<Conv2d*>(m.layers[i].get());
    // A depthwise conv's axis 1 is one input per group: only standard convs and linears have
    // input columns to select.
    const bool cols_apply = has_in[i] && !(conv && conv->groups != 1);
    for (size_t p = 0; p < po.size(); ++p) {
      const bool is_weight = po[p].value->rank() >= 2;
      copy_selected(*pn[p].value, *po[p].value, has_out[i] ? &out_keep[i] : nullptr,
                    cols_apply && is_weight ? &in_keep[i] : nullptr, m.layers[i]->name() + "." + po[p].name);
    }
  }
  return out;
}

}  // namespace trim
