#include "pruning/dependency.h"

#include <map>
#include <numeric>

namespace trim {

const ChannelGroup* GroupAnalysis::find(const std::string& name) const {
  for (const auto& g : groups)
    if (g.name == name) return &g;
  return nullptr;
}

std::string ChannelGroup::describe(const Model& m) const {
  auto names = [&](const std::vector<int>& v, const char* sep) {
    std::string s;
    for (int i : v) s += (s.empty() ? "" : sep) + m.layers[static_cast<size_t>(i)]->name();
    return s;
  };
  std::string s = names(sources, " + ");
  if (!followers.empty()) s += " (followers " + names(followers, ", ");
  s += followers.empty() ? " (consumers " : "; consumers ";
  s += names(consumers, ", ") + ")";
  return s;
}

namespace {

// Union-find over provisional groups (one per source), with the first reason a set cannot be
// pruned.
struct Sets {
  std::vector<int> parent;
  std::vector<std::string> blocked;  // per root: "" when prunable
  std::vector<int> channels;
  int make(int c) {
    parent.push_back(static_cast<int>(parent.size()));
    blocked.emplace_back();
    channels.push_back(c);
    return parent.back();
  }
  int root(int x) {
    while (parent[static_cast<size_t>(x)] != x) x = parent[static_cast<size_t>(x)];
    return x;
  }
  void unite(int a, int b) {
    a = root(a), b = root(b);
    if (a == b) return;
    if (b < a) std::swap(a, b);  // the earlier source names the set
    parent[static_cast<size_t>(b)] = a;
    if (blocked[static_cast<size_t>(a)].empty()) blocked[static_cast<size_t>(a)] = blocked[static_cast<size_t>(b)];
  }
  void block(int x, const std::string& why) {
    if (x < 0) return;
    std::string& b = blocked[static_cast<size_t>(root(x))];
    if (b.empty()) b = why;
  }
};

void block_all(Sets& sets, const std::vector<ChannelSegment>& segs, const std::string& why) {
  for (const auto& s : segs) sets.block(s.group, why);
}

}  // namespace

GroupAnalysis analyze_groups(const Model& m) {
  if (!m.built()) throw Error("analyze_groups: the model is not built");
  const size_t n = m.layers.size();
  Sets sets;
  std::vector<int> set_of_source(n, -1);  // provisional set of each source layer
  // Segments with provisional set ids first; mapped to final group indices at the end.
  std::vector<std::vector<ChannelSegment>> out(n), in(n);
  const std::vector<ChannelSegment> model_input = {{-1, m.input[0], 1}};
  auto input_segs = [&](size_t i, size_t k) -> const std::vector<ChannelSegment>& {
    const int j = m.inputs_of(i)[k];
    return j < 0 ? model_input : out[static_cast<size_t>(j)];
  };
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = *m.layers[i];
    const std::vector<ChannelSegment>& in0 = input_segs(i, 0);
    switch (l.channel_role()) {
      case ChannelRole::Source: {
        in[i] = in0;
        set_of_source[i] = sets.make(l.out_shape()[0]);
        out[i] = {{set_of_source[i], l.out_shape()[0], 1}};
        break;
      }
      case ChannelRole::Follower:
      case ChannelRole::Passthrough: {
        out[i] = in0;
        for (auto& s : out[i])
          if (s.spatial > 1 && l.channel_role() == ChannelRole::Follower) {
            block_all(sets, in0, "a " + l.type() + " after the flatten at '" + l.name() + "'");
            break;
          }
        break;
      }
      case ChannelRole::Flatten: {
        out[i] = in0;
        const Shape& s = l.in_shape();
        for (auto& seg : out[i]) seg.spatial *= s[1] * s[2];
        break;
      }
      case ChannelRole::Concat: {
        for (size_t k = 0; k < m.inputs_of(i).size(); ++k) {
          const auto& segs = input_segs(i, k);
          out[i].insert(out[i].end(), segs.begin(), segs.end());
        }
        break;
      }
      case ChannelRole::Sum: {
        // Channel f of every input is one channel of the output: their groups become one set.
        // Inputs cut into different runs (an add of a concat and a conv) cannot be matched run by
        // run; they are left alone, and so is a run added to channels that are not prunable.
        out[i] = in0;
        const size_t k_in = m.inputs_of(i).size();
        bool aligned = true;
        for (size_t k = 1; k < k_in; ++k) {
          const auto& segs = input_segs(i, k);
          aligned = aligned && segs.size() == in0.size();
          for (size_t s = 0; aligned && s < segs.size(); ++s)
            aligned = segs[s].channels == in0[s].channels && segs[s].spatial == in0[s].spatial;
        }
        if (!aligned) {
          for (size_t k = 0; k < k_in; ++k)
            block_all(sets, input_segs(i, k), "its channels meet differently split channels in the add '" + l.name() + "'");
          break;
        }
        for (size_t s = 0; s < in0.size(); ++s) {
          bool fixed = false;
          for (size_t k = 0; k < k_in; ++k) fixed = fixed || input_segs(i, k)[s].group < 0;
          for (size_t k = 0; k < k_in; ++k) {
            const int g = input_segs(i, k)[s].group;
            if (fixed)
              sets.block(g, "its channels are added to channels that cannot be pruned in '" + l.name() + "'");
            else if (k > 0)
              sets.unite(in0[s].group, g);
          }
        }
        break;
      }
      case ChannelRole::Opaque: {
        const std::string why = "its channels reach " + l.opaque_reason();
        for (size_t k = 0; k < m.inputs_of(i).size(); ++k) block_all(sets, input_segs(i, k), why);
        out[i] = {{-1, l.out_shape()[0], 1}};
        break;
      }
    }
  }
  block_all(sets, out[n - 1], "its outputs are the model's outputs (class scores are never pruned)");

  // Final groups: one per prunable set, in the order of its first source.
  GroupAnalysis a;
  std::map<int, int> group_of_root;
  for (size_t i = 0; i < n; ++i) {
    if (set_of_source[i] < 0) continue;
    const int r = sets.root(set_of_source[i]);
    const std::string& why = sets.blocked[static_cast<size_t>(r)];
    if (!why.empty()) {
      a.notes.push_back("'" + m.layers[i]->name() + "' is not prunable: " + why);
      continue;
    }
    if (sets.channels[static_cast<size_t>(r)] != m.layers[i]->out_shape()[0])
      throw Error("analyze_groups: '" + m.layers[i]->name() + "' meets a different channel count in an add");
    auto it = group_of_root.find(r);
    if (it == group_of_root.end()) {
      it = group_of_root.emplace(r, static_cast<int>(a.groups.size())).first;
      ChannelGroup g;
      g.name = m.layers[i]->name();
      g.source = static_cast<int>(i);
      g.channels = m.layers[i]->out_shape()[0];
      a.groups.push_back(g);
    }
    a.groups[static_cast<size_t>(it->second)].sources.push_back(static_cast<int>(i));
  }
  auto final_group = [&](int set) {
    if (set < 0) return -1;
    auto it = group_of_root.find(sets.root(set));
    return it == group_of_root.end() ? -1 : it->second;
  };
  a.out_segments.resize(n);
  a.in_segments.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (auto s : out[i]) {
      s.group = final_group(s.group);
      a.out_segments[i].push_back(s);
    }
    for (auto s : in[i]) {
      s.group = final_group(s.group);
      a.in_segments[i].push_back(s);
    }
  }
  // Members: followers carry a group on their output axis, consumers read it.
  for (size_t i = 0; i < n; ++i) {
    const ChannelRole role = m.layers[i]->channel_role();
    if (role == ChannelRole::Follower) {
      int last = -2;
      for (const auto& s : a.out_segments[i])
        if (s.group >= 0 && s.group != last) {
          a.groups[static_cast<size_t>(s.group)].followers.push_back(static_cast<int>(i));
          last = s.group;
        }
    }
    if (role == ChannelRole::Source) {
      for (const auto& s : a.in_segments[i]) {
        if (s.group < 0) continue;
        ChannelGroup& g = a.groups[static_cast<size_t>(s.group)];
        if (!g.consumers.empty() && g.consumers.back() == static_cast<int>(i)) continue;
        if (g.consumers.empty()) g.spatial = s.spatial;
        g.consumers.push_back(static_cast<int>(i));
      }
    }
  }
  // Each source's batchnorm: the first per-channel scale on its own path (through passthroughs
  // and depthwise convs that only it feeds).
  for (auto& g : a.groups) {
    g.consumer = g.consumers.empty() ? -1 : g.consumers.front();
    for (int s : g.sources) {
      int bn = -1;
      size_t at = static_cast<size_t>(s);
      while (bn < 0 && m.consumers_of(at).size() == 1) {
        const size_t next = static_cast<size_t>(m.consumers_of(at)[0]);
        const Layer& l = *m.layers[next];
        if (m.inputs_of(next).size() != 1) break;
        if (l.channel_role() == ChannelRole::Follower && l.channel_scale()) bn = static_cast<int>(next);
        else if (l.channel_role() != ChannelRole::Follower && l.channel_role() != ChannelRole::Passthrough) break;
        at = next;
      }
      g.source_bns.push_back(bn);
    }
    g.bn = g.source_bns.front();
  }
  return a;
}

}  // namespace trim
