#include "pruning/surgery.h"

#include <algorithm>
#include <cstring>
#include <memory>


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
  if (a.out_segments.size() != n) throw Error("surgery: the group analysis does not describe this model");
  // Kept channels of every group that loses some (empty vector + flag: untouched).
  std::vector<std::vector<int>> keep(a.groups.size());
  std::vector<char> pruned(a.groups.size(), 0);
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
    const size_t gi = static_cast<size_t>(g - a.groups.data());
    for (int f = 0; f < g->channels; ++f)
      if (!gone[static_cast<size_t>(f)]) keep[gi].push_back(f);
    const int floor_ = std::max(1, min_channels);
    if (static_cast<int>(keep[gi].size()) < floor_ && static_cast<int>(keep[gi].size()) < g->channels)
      throw Error("surgery: refusing to prune layer '" + g->name + "' from " + std::to_string(g->channels) + " to " +
                  std::to_string(keep[gi].size()) + " channels: at least min_channels=" + std::to_string(floor_) +
                  " must remain");
    pruned[gi] = 1;
  }
  // The kept indices along a channel axis made of segments (each channel `spatial` entries wide);
  // false when nothing on the axis changes.
  auto kept_along = [&](const std::vector<ChannelSegment>& segs, std::vector<int>& out) {
    bool changed = false;
    int offset = 0;
    out.clear();
    for (const auto& sg : segs) {
      const bool cut = sg.group >= 0 && pruned[static_cast<size_t>(sg.group)];
      changed = changed || cut;
      if (cut) {
        for (int f : keep[static_cast<size_t>(sg.group)])
          for (int sp = 0; sp < sg.spatial; ++sp) out.push_back(offset + f * sg.spatial + sp);
      } else {
        for (int e = 0; e < sg.channels * sg.spatial; ++e) out.push_back(offset + e);
      }
      offset += sg.channels * sg.spatial;
    }
    return changed;
  };
  // Per layer: kept output rows (sources and followers own parameters along them) and kept
  // input columns (sources).
  std::vector<std::vector<int>> out_keep(n), in_keep(n);
  std::vector<char> has_out(n, 0), has_in(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const ChannelRole role = m.layers[i]->channel_role();
    if (role == ChannelRole::Source || role == ChannelRole::Follower)
      has_out[i] = kept_along(a.out_segments[i], out_keep[i]);
    if (role == ChannelRole::Source) has_in[i] = kept_along(a.in_segments[i], in_keep[i]);
  }

  // New layers from the old descriptions (inputs included) with the channel counts changed.
  Model out;
  out.input = m.input;
  out.class_names = m.class_names;
  for (size_t i = 0; i < n; ++i) {
    LayerDesc d = m.layer_desc(i);
    d.file = "<surgery>";
    if (has_out[i]) m.layers[i]->set_out_channels(d, static_cast<int>(out_keep[i].size()));
    out.add(make_layer(d));
  }
  try {
    out.build();
  } catch (const Error& e) {
    throw Error(std::string("surgery produced an inconsistent model (a bug in the dependency analysis): ") + e.what());
  }
  // The rebuilt model keeps the order (it is already topological), so layer i is layer i.
  for (size_t i = 0; i < n; ++i)
    if (out.layers[i]->name() != m.layers[i]->name()) throw Error("surgery: the layer order changed");

  // Weights: rows of every pruned layer, input columns of every consumer (axis 1 of its weight).
  for (size_t i = 0; i < n; ++i) {
    auto po = m.layers[i]->params();
    auto pn = out.layers[i]->params();
    if (po.size() != pn.size()) throw Error("surgery: layer '" + m.layers[i]->name() + "' changed its parameter list");
    for (size_t p = 0; p < po.size(); ++p) {
      const bool is_weight = po[p].value->rank() >= 2;
      copy_selected(*pn[p].value, *po[p].value, has_out[i] ? &out_keep[i] : nullptr,
                    has_in[i] && is_weight ? &in_keep[i] : nullptr, m.layers[i]->name() + "." + po[p].name);
    }
  }
  return out;
}

}  // namespace trim
