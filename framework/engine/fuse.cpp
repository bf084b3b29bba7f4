// fuse.cpp - fusion (see fuse.h).
#include "framework/engine/fuse.h"

#include <algorithm>
#include <utility>

namespace trim {
namespace engine_detail {

namespace {

// b reads a's output and is the only step that does.
bool feeds_only(const std::vector<Step>& steps, const Step& a, const Step& b) {
  return b.inputs.size() == 1 && b.inputs[0] == a.output && consumers(steps, a.output) == 1;
}

size_t map_bytes(const Step& s) { return output_floats(s) * sizeof(float); }

}  // namespace

void fuse_activations(std::vector<Step>& steps) {
  std::vector<Step> out;
  for (auto& s : steps) {
    if (s.op == Op::Clamp && !out.empty() && has_clamp(out.back().op) && feeds_only(steps, out.back(), s)) {
      Step& prev = out.back();
      prev.output = s.output;
      prev.vmin = std::max(prev.vmin, s.vmin);
      prev.vmax = std::min(prev.vmax, s.vmax);
      prev.name += "+" + s.name;
      continue;
    }
    if (s.op == Op::Clamp) {  // nothing to fuse into: a standalone affine with scale 1, shift 0
      s.op = Op::Affine;
      s.w.assign(static_cast<size_t>(s.cin), 1.f);
      s.b.assign(static_cast<size_t>(s.cin), 0.f);
    }
    out.push_back(std::move(s));
  }
  steps.swap(out);
}

// A depthwise step whose output would not stay in L2 is fused with the pointwise step that
// reads it: bands of a few depthwise rows go into per-thread scratch and the pointwise GEMM
// consumes them at once, so the big intermediate map (1.6 MB after MobileNet's first depthwise
// layer) is never written out and read back.
constexpr size_t kBandBytes = 64u << 10;  // depthwise rows made per band of a fused pair

namespace {
Step make_dwpw(Step d, const Step& p) {
  d.op = Op::DwPw;
  d.name += "+" + p.name;
  d.macs += p.macs;
  d.mid_c = d.cout;
  d.mid_cs = d.out_cs;
  d.band_rows = static_cast<int>(std::max<size_t>(1, kBandBytes / (static_cast<size_t>(d.ow) * d.mid_cs * sizeof(float))));
  d.cout = p.cout;
  d.out_cs = p.out_cs;
  d.w2_off = p.w_off, d.b2_off = p.b_off;
  d.vmin2 = p.vmin, d.vmax2 = p.vmax;
  d.output = p.output;
  return d;
}
}  // namespace

void fuse_depthwise_pointwise(std::vector<Step>& steps, size_t min_bytes) {
  std::vector<Step> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    Step& d = steps[i];
    if (d.op == Op::DwConv && i + 1 < steps.size() && steps[i + 1].op == Op::Pointwise &&
        feeds_only(steps, d, steps[i + 1]) && map_bytes(d) > min_bytes) {
      out.push_back(make_dwpw(std::move(d), steps[i + 1]));
      ++i;
      continue;
    }
    out.push_back(std::move(d));
  }
  steps.swap(out);
}

// The same idea one level up: where a fused pair (or a standard conv) writes a map too big for
// L2 and the next step is a depthwise + pointwise pair, the two become one Chain step and the
// map only ever exists a few rows at a time (MobileNet 1.0: the 3.2 MB after pw1 and the 1.6 MB
// after pw3). Pairs are taken largest map first, each step in at most one chain. Runs after
// fuse_depthwise_pointwise; a plain depthwise + pointwise that becomes a chain's consumer is
// fused on the way.
void chain_steps(std::vector<Step>& steps, size_t min_bytes) {
  auto producer = [](const Step& s) { return s.op == Op::DwPw || s.op == Op::Conv; };
  auto consumer = [&](size_t j) {
    if (j >= steps.size() || !feeds_only(steps, steps[j - 1], steps[j])) return 0;
    if (steps[j].op == Op::DwPw) return 1;
    if (steps[j].op == Op::DwConv && j + 1 < steps.size() && steps[j + 1].op == Op::Pointwise &&
        feeds_only(steps, steps[j], steps[j + 1]))
      return 2;
    return 0;
  };
  std::vector<std::pair<size_t, size_t>> cand;  // (map bytes, producer index)
  for (size_t i = 0; i + 1 < steps.size(); ++i)
    if (producer(steps[i]) && consumer(i + 1) && map_bytes(steps[i]) > min_bytes) cand.push_back({map_bytes(steps[i]), i});
  std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  std::vector<int> role(steps.size(), 0);  // 1: producer of a chain, 2: consumed by one
  for (const auto& c : cand) {
    const size_t i = c.second, last = i + consumer(i + 1);
    bool free = true;
    for (size_t k = i; k <= last; ++k) free = free && role[k] == 0;
    if (!free) continue;
    role[i] = 1;
    for (size_t k = i + 1; k <= last; ++k) role[k] = 2;
  }
  std::vector<Step> out;
  for (size_t i = 0; i < steps.size();) {
    if (role[i] != 1) {
      out.push_back(std::move(steps[i]));
      ++i;
      continue;
    }
    Step prod = std::move(steps[i]);
    Step cons;
    if (steps[i + 1].op == Op::DwPw) {
      cons = std::move(steps[i + 1]);
      i += 2;
    } else {
      cons = make_dwpw(std::move(steps[i + 1]), steps[i + 2]);
      i += 3;
    }
    Step ch;
    ch.op = Op::Chain;
    ch.name = prod.name + "+" + cons.name;
    ch.inputs = prod.inputs;
    ch.output = cons.output;
    ch.cin = prod.cin, ch.ih = prod.ih, ch.iw = prod.iw;
    ch.cout = cons.cout, ch.oh = cons.oh, ch.ow = cons.ow, ch.out_cs = cons.out_cs;
    ch.macs = prod.macs + cons.macs;
    ch.band_rows = cons.band_rows;
    ch.sub.push_back(std::move(prod));
    ch.sub.push_back(std::move(cons));
    out.push_back(std::move(ch));
  }
  steps.swap(out);
}

}  // namespace engine_detail
}  // namespace trim
