// engine.cpp - InferenceEngine: lowering, fusion, packing, buffer planning and the run loop.
#include "framework/engine/engine.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <limits>
#include <sstream>
#include <thread>

#include "framework/engine/float_buffer.h"
#include "framework/engine/passes.h"
#include "framework/engine/worker_pool.h"
#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/dropout.h"
#include "framework/layers/linear.h"
#include "framework/layers/pool2d.h"
#include "framework/threads.h"

namespace trim {

namespace k = kernels;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

enum class Op { Pointwise, Conv, DwConv, DwPw, Chain, GroupConv, Affine, Clamp, MaxPool, AvgPool, GlobalAvgPool, Flatten, Fc };

const char* op_name(Op op) {
  switch (op) {
    case Op::Pointwise: return "pointwise";
    case Op::Conv: return "conv";
    case Op::DwConv: return "dwconv3x3";
    case Op::DwPw: return "dwconv3x3+pw";
    case Op::Chain: return "chain";
    case Op::GroupConv: return "groupconv";
    case Op::Affine: return "affine";
    case Op::Clamp: return "clamp";
    case Op::MaxPool: return "maxpool";
    case Op::AvgPool: return "avgpool";
    case Op::GlobalAvgPool: return "globalavgpool";
    case Op::Flatten: return "flatten";
    case Op::Fc: return "fc";
  }
  return "?";
}

// CPU time of the calling thread (profiling).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Planning helpers: a range of `total` split into `parts` pieces aligned to `granule` (in 64
// bits: total + granule may pass INT_MAX).
void split_range(int total, int parts, int granule, int idx, int& b, int& e) {
  const int64_t units = (static_cast<int64_t>(total) + granule - 1) / granule;
  const int64_t base = units / parts, extra = units % parts;
  const int64_t ub = idx * base + std::min<int64_t>(idx, extra);
  const int64_t ue = ub + base + (idx < extra ? 1 : 0);
  b = static_cast<int>(std::min<int64_t>(total, ub * granule));
  e = static_cast<int>(std::min<int64_t>(total, ue * granule));
}

// Whole units of `granule` in `total` (64 bits, as split_range).
int64_t units_of(int64_t total, int granule) { return (total + granule - 1) / granule; }

std::string mib(size_t bytes) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << bytes / double(1 << 20) << " MiB";
  return o.str();
}

}  // namespace

namespace engine_detail {
struct Step {
  Op op;
  std::string name;
  int cin = 0, ih = 0, iw = 0, cout = 0, oh = 0, ow = 0;
  size_t in_cs = 0, out_cs = 0;
  int kernel = 1, stride = 1, pad = 0, groups = 1;
  float vmin = -kInf, vmax = kInf;
  int64_t macs = 0;
  // Unpacked parameters, dropped once packed: conv/linear weight [out][in...], bias, or the
  // affine scale (in w) and shift (in b).
  std::vector<float> w, b;
  size_t w_off = 0, b_off = 0;  // into the weight arena
  bool split_n = false;         // pointwise: threads take column panels rather than rows
  // DwPw (a depthwise step fused with the pointwise step after it): the depthwise output is
  // `mid_c` channels at stride `mid_cs`, made `band_rows` rows at a time into per-thread
  // scratch; the pointwise weights, bias and clamp are the second set.
  int mid_c = 0, band_rows = 0;
  size_t mid_cs = 0, w2_off = 0, b2_off = 0;
  float vmin2 = -kInf, vmax2 = kInf;
  // Chain: sub[0] (a DwPw or a standard conv) makes the rows of an intermediate map X that
  // sub[1] (a DwPw) consumes as soon as the rows it needs exist; X lives only in a per-thread
  // window of a few rows. Scratch per thread: the window, sub[0]'s band, sub[1]'s band, conv
  // scratch, at these offsets (floats).
  std::vector<Step> sub;
  size_t win_off = 0, band0_off = 0, band1_off = 0, conv_off = 0, chain_scratch = 0;
};
}  // namespace engine_detail
using engine_detail::Step;

struct InferenceEngine::Impl {
  std::vector<Step> steps;
  std::vector<int> tasks;  // pieces per step (index 0: the input conversion, then step i at i + 1)
  // Per image, in one of two slots (see worker_pool.h): the next unclaimed piece and the pieces
  // finished of every work item, and the image's input.
  struct Run {
    std::unique_ptr<std::atomic<int>[]> next, done;
    const float* in = nullptr;
    InferenceEngine* engine = nullptr;
  };
  Run runs[2];
  std::unique_ptr<WorkerPool> pool;
  FloatBuffer weights;  // every packed weight and bias, one block
  FloatBuffer act[2];   // ping-pong activation buffers
  FloatBuffer scratch;  // per thread: im2col blocks or depthwise bands of a fused pair
  size_t scratch_per_thread = 0;
  size_t in_cs = 0;
  std::atomic<bool> running{false};  // a run is in progress (run() is not re-entrant)
};

namespace {

using Impl = InferenceEngine::Impl;

bool has_clamp(Op op) {
  return op == Op::Pointwise || op == Op::Conv || op == Op::DwConv || op == Op::GroupConv || op == Op::Affine ||
         op == Op::Clamp || op == Op::Fc;
}

// One step per layer of the (already folded, dropout-free) model.
std::vector<Step> lower(const Model& m) {
  std::vector<Step> steps;
  int c = m.input[0], h = m.input[1], w = m.input[2];
  for (const auto& lp : m.layers) {
    const Layer& l = *lp;
    Step s;
    s.name = l.name();
    s.cin = c, s.ih = h, s.iw = w;
    const Shape& o = l.out_shape();
    s.cout = o[0], s.oh = o[1], s.ow = o[2];
    s.macs = l.macs();
    if (auto* cv = dynamic_cast<const Conv2d*>(&l)) {
      s.kernel = cv->kernel, s.stride = cv->stride, s.pad = cv->pad, s.groups = cv->groups;
      s.w.assign(cv->weight.begin(), cv->weight.end());
      s.b.assign(static_cast<size_t>(s.cout), 0.f);
      if (cv->has_bias) std::copy(cv->bias.begin(), cv->bias.end(), s.b.begin());
      if (cv->groups == 1)
        s.op = cv->kernel == 1 && cv->stride == 1 && cv->pad == 0 ? Op::Pointwise : Op::Conv;
      else if (cv->depthwise() && cv->kernel == 3 && (cv->stride == 1 || cv->stride == 2))
        s.op = Op::DwConv;
      else
        s.op = Op::GroupConv;
    } else if (auto* lin = dynamic_cast<const Linear*>(&l)) {
      s.op = Op::Fc;
      s.w.assign(lin->weight.begin(), lin->weight.end());
      s.b.assign(static_cast<size_t>(s.cout), 0.f);
      if (lin->has_bias) std::copy(lin->bias.begin(), lin->bias.end(), s.b.begin());
    } else if (auto* bn = dynamic_cast<const BatchNorm2d*>(&l)) {
      s.op = Op::Affine;  // a batch norm with nothing to fold into
      s.w.resize(static_cast<size_t>(c));
      s.b.resize(static_cast<size_t>(c));
      for (int ch = 0; ch < c; ++ch) {
        const double sc = bn->gamma[ch] / std::sqrt(static_cast<double>(bn->running_var[ch]) + bn->eps);
        s.w[ch] = static_cast<float>(sc);
        s.b[ch] = static_cast<float>(bn->beta[ch] - bn->running_mean[ch] * sc);
      }
    } else if (dynamic_cast<const ReLU*>(&l)) {
      s.op = Op::Clamp, s.vmin = 0.f;
    } else if (dynamic_cast<const ReLU6*>(&l)) {
      s.op = Op::Clamp, s.vmin = 0.f, s.vmax = 6.f;
    } else if (auto* mp = dynamic_cast<const MaxPool2d*>(&l)) {
      s.op = Op::MaxPool, s.kernel = mp->kernel, s.stride = mp->stride, s.pad = mp->pad;
    } else if (auto* ap = dynamic_cast<const AvgPool2d*>(&l)) {
      s.op = Op::AvgPool, s.kernel = ap->kernel, s.stride = ap->stride, s.pad = ap->pad;
    } else if (dynamic_cast<const GlobalAvgPool*>(&l)) {
      s.op = Op::GlobalAvgPool;
    } else if (dynamic_cast<const Flatten*>(&l)) {
      if (h == 1 && w == 1) {  // already a vector: nothing to move
        c = o[0], h = o[1], w = o[2];
        continue;
      }
      s.op = Op::Flatten;
    } else if (dynamic_cast<const Dropout*>(&l)) {
      continue;  // identity at inference (drop_dropout removed it already)
    } else {
      throw Error("inference engine: layer '" + l.name() + "' of type '" + l.type() + "' has no inference step");
    }
    steps.push_back(std::move(s));
    c = o[0], h = o[1], w = o[2];
  }
  return steps;
}

// ReLU / ReLU6 become the clamp of the step before them (clamps compose by intersecting).
void fuse_activations(std::vector<Step>& steps) {
  std::vector<Step> out;
  for (auto& s : steps) {
    if (s.op == Op::Clamp && !out.empty() && has_clamp(out.back().op)) {
      Step& prev = out.back();
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

// Channel strides and the weight arena: every weight packed once, at a 64-byte boundary.
void pack_weights(Impl& im, const k::KernelTable& t, size_t max_bytes) {
  for (auto& s : im.steps) {
    s.in_cs = 0;  // set by plan_buffers
    s.out_cs = s.op == Op::Flatten ? static_cast<size_t>(s.cout) : k::activation_channel_stride(s.cout, t);
  }
  auto packed_size = [&](const Step& s, size_t& wn, size_t& bn) {
    wn = bn = 0;
    switch (s.op) {
      case Op::Pointwise: wn = k::packed_gemm_b_size(s.cout, s.cin, t.gemm_nr); bn = k::round_up(s.cout, t.gemm_nr); break;
      case Op::Fc: wn = k::packed_gemm_b_size(s.cout, s.cin, t.gemm_nr); bn = k::round_up(s.cout, t.gemm_nr); break;
      case Op::Conv:
        wn = k::packed_gemm_b_size(s.cout, s.kernel * s.kernel * s.cin, t.gemm_nr);
        bn = k::round_up(s.cout, t.gemm_nr);
        break;
      case Op::DwConv: wn = k::packed_dwconv3x3_size(s.cout); bn = k::round_up(s.cout, k::kWeightAlign); break;
      case Op::GroupConv: wn = s.w.size(); bn = s.b.size(); break;
      case Op::Affine: wn = s.w.size(); bn = s.b.size(); break;
      default: break;
    }
  };
  size_t total = 0;
  for (auto& s : im.steps) {
    size_t wn, bn;
    packed_size(s, wn, bn);
    s.w_off = total;
    total += k::round_up(wn, 16);
    s.b_off = total;
    total += k::round_up(bn, 16);
  }
  // At most 2^28 parameters (Model::build), so total cannot overflow; it can pass the limit.
  if (total * sizeof(float) > max_bytes)
    throw Error("inference engine: the packed weights need " + mib(total * sizeof(float)) + ", more than the " +
                mib(max_bytes) + " limit (EngineOptions::max_memory_bytes)");
  im.weights = FloatBuffer(std::max<size_t>(total, 1));
  float* base = im.weights.data();
  for (auto& s : im.steps) {
    float* wp = base + s.w_off;
    float* bp = base + s.b_off;
    switch (s.op) {
      case Op::Pointwise:
      case Op::Fc:
        k::pack_gemm_b(s.cout, s.cin, s.w.data(), static_cast<size_t>(s.cin), t.gemm_nr, wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      case Op::Conv:
        k::pack_conv2d(s.cout, s.cin, s.kernel, s.w.data(), t.gemm_nr, wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      case Op::DwConv:
        k::pack_dwconv3x3(s.cout, s.w.data(), wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      case Op::GroupConv:
      case Op::Affine:
        std::copy(s.w.begin(), s.w.end(), wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      default: break;
    }
    std::vector<float>().swap(s.w);
    std::vector<float>().swap(s.b);
  }
}

// A depthwise step whose output would not stay in L2 is fused with the pointwise step that
// reads it: bands of a few depthwise rows go into per-thread scratch and the pointwise GEMM
// consumes them at once, so the big intermediate map (1.6 MB after MobileNet's first depthwise
// layer) is never written out and read back. Runs after pack_weights.
constexpr size_t kBandBytes = 64u << 10;  // depthwise rows made per band of a fused pair

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
  return d;
}

void fuse_depthwise_pointwise(std::vector<Step>& steps, size_t min_bytes) {
  std::vector<Step> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    Step& d = steps[i];
    if (d.op == Op::DwConv && i + 1 < steps.size() && steps[i + 1].op == Op::Pointwise &&
        static_cast<size_t>(d.oh) * d.ow * d.out_cs * sizeof(float) > min_bytes) {
      out.push_back(make_dwpw(std::move(d), steps[i + 1]));
      ++i;
      continue;
    }
    out.push_back(std::move(d));
  }
  steps.swap(out);
}

size_t map_bytes(const Step& s) { return static_cast<size_t>(s.oh) * s.ow * s.out_cs * sizeof(float); }

// The same idea one level up: where a fused pair (or a standard conv) writes a map too big for
// L2 and the next step is a depthwise + pointwise pair, the two become one Chain step and the
// map only ever exists a few rows at a time (MobileNet 1.0: the 3.2 MB after pw1 and the 1.6 MB
// after pw3). Pairs are taken largest map first, each step in at most one chain. Runs after
// fuse_depthwise_pointwise; a plain depthwise + pointwise that becomes a chain's consumer is
// fused on the way.
void chain_steps(std::vector<Step>& steps, size_t min_bytes) {
  auto producer = [](const Step& s) { return s.op == Op::DwPw || s.op == Op::Conv; };
  auto consumer = [&](size_t j) {
    if (j >= steps.size()) return 0;
    if (steps[j].op == Op::DwPw) return 1;
    if (steps[j].op == Op::DwConv && j + 1 < steps.size() && steps[j + 1].op == Op::Pointwise) return 2;
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

// Two ping-pong activation buffers sized for the largest tensor, per-thread im2col scratch, and
// the thread split of every GEMM. Nothing is allocated after this.
void plan_buffers(Impl& im, const k::KernelTable& t, const Shape& input, int threads, size_t max_bytes) {
  const int c0 = input[0];
  // The network input keeps its channel count as stride when it is narrower than a vector (the
  // RGB stem: 3 floats per pixel, not 16, is what im2col copies).
  im.in_cs = c0 < t.channel_align ? static_cast<size_t>(c0) : k::activation_channel_stride(c0, t);
  // Sizes in size_t: a map has at most 2^31 floats (Model::build) and its channel stride is at
  // most 16 floats per channel more, so no product below overflows 64 bits.
  size_t biggest = static_cast<size_t>(input[1]) * input[2] * im.in_cs;
  std::string biggest_what = "the input " + input.str() + " at channel stride " + std::to_string(im.in_cs);
  std::string scratch_what;
  size_t cs = im.in_cs;
  size_t scratch = 0;
  auto need_scratch = [&](size_t n, const Step& s) {
    if (n > scratch) scratch = n, scratch_what = s.name;
  };
  for (auto& s : im.steps) {
    s.in_cs = cs;
    const size_t out_floats = static_cast<size_t>(s.oh) * s.ow * s.out_cs;
    if (out_floats > biggest) {
      biggest = out_floats;
      biggest_what = "step '" + s.name + "' output " + Shape{s.cout, s.oh, s.ow}.str() + " at channel stride " +
                     std::to_string(s.out_cs);
    }
    cs = s.out_cs;
    if (s.op == Op::Conv) need_scratch(k::conv2d_scratch_size(t, s.kernel, s.cin), s);
    if (s.op == Op::DwPw) need_scratch(static_cast<size_t>(s.band_rows) * s.ow * s.mid_cs, s);
    if (s.op == Op::Chain) {
      Step& a = s.sub[0];
      Step& b = s.sub[1];
      a.in_cs = s.in_cs;
      b.in_cs = a.out_cs;
      // X rows a band of b needs: (band_rows - 1) * stride + 3.
      const size_t win_rows = static_cast<size_t>(b.band_rows - 1) * b.stride + 3;
      auto up = [](size_t n) { return k::round_up(n, 16); };
      s.win_off = 0;
      s.band0_off = up(win_rows * a.ow * a.out_cs);
      s.band1_off = s.band0_off + up(a.op == Op::DwPw ? static_cast<size_t>(a.band_rows) * a.ow * a.mid_cs : 0);
      s.conv_off = s.band1_off + up(static_cast<size_t>(b.band_rows) * b.ow * b.mid_cs);
      s.chain_scratch = s.conv_off + (a.op == Op::Conv ? k::conv2d_scratch_size(t, a.kernel, a.cin) : 0);
      need_scratch(s.chain_scratch, s);
    }
    if (s.op == Op::Pointwise) {
      // Split along the larger operand (rows of A for big feature maps, weight panels for the
      // 7x7 and 14x14 layers) unless that leaves one thread much more work than the other.
      const int64_t m = static_cast<int64_t>(s.ih) * s.iw;
      const int64_t mb = units_of(m, t.gemm_mr), nb = units_of(s.cout, t.gemm_nr);
      auto imbalance = [&](int64_t units) {
        return units < threads ? 1e9 : double((units + threads - 1) / threads) * threads / units;
      };
      const double im_m = imbalance(mb), im_n = imbalance(nb);
      const bool prefer_n = s.cout > m;
      s.split_n = prefer_n ? im_n <= im_m * 1.1 : im_n * 1.1 < im_m;
    }
  }
  im.scratch_per_thread = k::round_up(scratch, 16);
  // Refuse what cannot fit before allocating any of it, naming the largest buffer.
  const size_t act_bytes = biggest * sizeof(float), scratch_bytes = im.scratch_per_thread * threads * sizeof(float);
  const size_t total = im.weights.size() * sizeof(float) + 2 * act_bytes + scratch_bytes;
  if (total > max_bytes) {
    std::string why = act_bytes >= scratch_bytes
                          ? "two activation buffers of " + mib(act_bytes) + " for " + biggest_what
                          : "scratch of " + mib(scratch_bytes / threads) + " per thread x " + std::to_string(threads) +
                                " threads for step '" + scratch_what + "'";
    throw Error("inference engine: the plan needs " + mib(total) + " (" + why + "), more than the " + mib(max_bytes) +
                " limit (EngineOptions::max_memory_bytes)");
  }
  for (auto& a : im.act) a = FloatBuffer(std::max<size_t>(biggest, 1));
  im.scratch = FloatBuffer(std::max<size_t>(im.scratch_per_thread * threads, 1));
}

// Task decomposition: every step is cut into `tasks` pieces that threads claim one at a time,
// so a thread the OS has taken away (the machine is shared) holds up at most the piece it is
// running, never a fixed half of the layer.
int plan_tasks(const Step& s, const k::KernelTable& t, int threads) {
  if (s.op == Op::DwPw) return static_cast<int>(units_of(s.oh, s.band_rows));  // bands, even on one thread
  if (threads <= 1) return 1;
  // A chain piece recomputes the one or two rows of X above its first band: few, long pieces.
  if (s.op == Op::Chain) return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(units_of(s.oh, s.band_rows), 2 * threads)));
  auto pieces = [&](int64_t units) { return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(units, 4 * threads))); };
  switch (s.op) {
    case Op::Pointwise: {
      const int64_t m = static_cast<int64_t>(s.ih) * s.iw;
      return s.split_n ? pieces(units_of(s.cout, t.gemm_nr)) : pieces(units_of(m, t.gemm_mr));
    }
    case Op::Conv: return pieces(units_of(static_cast<int64_t>(s.oh) * s.ow, t.gemm_mr));
    case Op::DwConv: return pieces(s.oh);
    case Op::MaxPool:
    case Op::AvgPool: return s.pad == 0 ? pieces(s.oh) : 1;
    // The classifier is bound by reading its weights: worth splitting only when large.
    case Op::Fc: return static_cast<int64_t>(s.cin) * s.cout < (1 << 16) ? 1 : pieces(units_of(s.cout, t.gemm_nr));
    default: return 1;
  }
}

// Depthwise output rows [oy0, oy1) of a DwPw step d into `band`, which receives row oy0 first.
// `in` holds d's input from row in_row0 on, of which rows below `in_rows` exist. The kernel
// addresses output row oy at out + oy * ow * out_cs and input row iy = oy * stride - pad_top + ky
// at in + iy * iw * in_cs: numbering the band's rows from 0 and moving the difference into pad_top
// (pad - oy0 * stride + in_row0, which may be negative) gives it pointers only at the first
// row of each buffer.
void dw_rows_into(const k::KernelTable& t, const Step& d, const float* in, int in_rows, int in_row0, float* band,
                  int oy0, int oy1, const float* w, const float* bias) {
  (d.stride == 1 ? t.dwconv3x3_s1 : t.dwconv3x3_s2)(in, in_rows - in_row0, d.iw, d.in_cs, band, d.ow, d.mid_cs, 0,
                                                    oy1 - oy0, d.mid_c, w, bias, d.pad - oy0 * d.stride + in_row0,
                                                    d.pad, d.vmin, d.vmax);
}

// Runs piece `task` of `tasks` of one step; `tid` picks the thread's scratch.
void exec(const Step& s, const k::KernelTable& t, const Impl& im, const float* in, float* out, int task, int tasks,
          int tid) {
  const float* wp = im.weights.data() + s.w_off;
  const float* bp = im.weights.data() + s.b_off;
  int b = 0, e = 0;
  switch (s.op) {
    case Op::Pointwise: {
      const int m = s.ih * s.iw;
      if (s.split_n) {
        split_range(s.cout, tasks, t.gemm_nr, task, b, e);
        if (b < e)
          t.gemm(m, e - b, s.cin, in, s.in_cs, wp + static_cast<size_t>(b) * s.cin, bp + b, out + b, s.out_cs, s.vmin,
                 s.vmax);
      } else {
        split_range(m, tasks, t.gemm_mr, task, b, e);
        if (b < e)
          t.gemm(e - b, s.cout, s.cin, in + b * s.in_cs, s.in_cs, wp, bp, out + b * s.out_cs, s.out_cs, s.vmin, s.vmax);
      }
      break;
    }
    case Op::Conv:
      split_range(s.oh * s.ow, tasks, t.gemm_mr, task, b, e);
      if (b < e)
        k::conv2d_nhwc(t, in, s.ih, s.iw, s.in_cs, s.cin, out + static_cast<size_t>(b) * s.out_cs, s.ow, s.out_cs, s.cout,
                       s.kernel, s.stride, s.pad, b, e, wp, bp, s.vmin, s.vmax,
                       const_cast<float*>(im.scratch.data()) + tid * im.scratch_per_thread);
      break;
    case Op::DwConv:
      split_range(s.oh, tasks, 1, task, b, e);
      if (b < e)
        (s.stride == 1 ? t.dwconv3x3_s1 : t.dwconv3x3_s2)(in, s.ih, s.iw, s.in_cs, out, s.ow, s.out_cs, b, e, s.cout, wp,
                                                          bp, s.pad, s.pad, s.vmin, s.vmax);
      break;
    case Op::DwPw: {
      b = task * s.band_rows;
      e = std::min(s.oh, b + s.band_rows);
      float* band = const_cast<float*>(im.scratch.data()) + tid * im.scratch_per_thread;
      dw_rows_into(t, s, in, s.ih, 0, band, b, e, wp, bp);
      t.gemm((e - b) * s.ow, s.cout, s.mid_c, band, s.mid_cs, im.weights.data() + s.w2_off, im.weights.data() + s.b2_off,
             out + static_cast<size_t>(b) * s.ow * s.out_cs, s.out_cs, s.vmin2, s.vmax2);
      break;
    }
    case Op::Chain: {
      const Step& a = s.sub[0];
      const Step& c = s.sub[1];
      float* base = const_cast<float*>(im.scratch.data()) + tid * im.scratch_per_thread;
      float* window = base + s.win_off;
      float* band0 = base + s.band0_off;
      float* band1 = base + s.band1_off;
      float* conv_scratch = base + s.conv_off;
      const size_t xrow = static_cast<size_t>(a.ow) * a.out_cs;  // floats per row of X
      int wlo = 0, whi = 0;  // rows of X in the window
      // Rows [r0, r1) of X into the window, which holds X from row wlo.
      auto produce = [&](int r0, int r1) {
        float* x = window + static_cast<size_t>(r0 - wlo) * xrow;
        if (a.op == Op::Conv) {
          k::conv2d_nhwc(t, in, a.ih, a.iw, a.in_cs, a.cin, x, a.ow, a.out_cs, a.cout, a.kernel, a.stride, a.pad, r0 * a.ow,
                         r1 * a.ow, im.weights.data() + a.w_off, im.weights.data() + a.b_off, a.vmin, a.vmax, conv_scratch);
          return;
        }
        for (int r = r0; r < r1; r += a.band_rows) {
          const int re = std::min(r1, r + a.band_rows);
          dw_rows_into(t, a, in, a.ih, 0, band0, r, re, im.weights.data() + a.w_off, im.weights.data() + a.b_off);
          t.gemm((re - r) * a.ow, a.cout, a.mid_c, band0, a.mid_cs, im.weights.data() + a.w2_off, im.weights.data() + a.b2_off,
                 x + static_cast<size_t>(r - r0) * xrow, a.out_cs, a.vmin2, a.vmax2);
        }
      };
      split_range(s.oh, tasks, s.band_rows, task, b, e);
      for (int y = b; y < e; y += c.band_rows) {
        const int ye = std::min(e, y + c.band_rows);
        const int need_lo = std::max(0, y * c.stride - c.pad);
        const int need_hi = std::min(a.oh, (ye - 1) * c.stride - c.pad + 3);
        if (need_lo >= whi || need_lo < wlo) {
          wlo = whi = need_lo;  // nothing to keep (the piece's first band)
        } else if (need_lo > wlo) {
          std::memmove(window, window + static_cast<size_t>(need_lo - wlo) * xrow, sizeof(float) * (whi - need_lo) * xrow);
          wlo = need_lo;
        }
        if (need_hi > whi) {
          produce(whi, need_hi);
          whi = need_hi;
        }
        // The window holds X rows [wlo, whi): it is the depthwise input from row wlo on.
        dw_rows_into(t, c, window, std::min(c.ih, whi), wlo, band1, y, ye, im.weights.data() + c.w_off,
                     im.weights.data() + c.b_off);
        t.gemm((ye - y) * c.ow, c.cout, c.mid_c, band1, c.mid_cs, im.weights.data() + c.w2_off, im.weights.data() + c.b2_off,
               out + static_cast<size_t>(y) * c.ow * c.out_cs, c.out_cs, c.vmin2, c.vmax2);
      }
      break;
    }
    case Op::GroupConv:
      k::f32_conv2d_nhwc__ref(in, s.ih, s.iw, s.in_cs, s.cin, out, s.oh, s.ow, s.out_cs, s.cout, s.kernel, s.stride,
                              s.pad, s.groups, wp, bp, s.vmin, s.vmax);
      break;
    case Op::Affine:
    case Op::Clamp:
      k::f32_affine_nhwc__ref(in, s.ih * s.iw, s.in_cs, out, s.out_cs, s.cin, wp, bp, s.vmin, s.vmax);
      break;
    case Op::MaxPool:
    case Op::AvgPool: {
      // Output rows [b, e). Only unpadded pools are split (plan_tasks): their rows start at input
      // row b * stride, so a piece is the same pool on a shifted, shorter map.
      split_range(s.oh, tasks, 1, task, b, e);
      if (b >= e) break;
      const float* pin = in + static_cast<size_t>(b) * s.stride * s.iw * s.in_cs;
      float* pout = out + static_cast<size_t>(b) * s.ow * s.out_cs;
      const int ih = s.ih - b * s.stride;
      (s.op == Op::MaxPool ? t.maxpool2d : k::f32_avgpool2d_nhwc__ref)(
          pin, ih, s.iw, s.in_cs, pout, e - b, s.ow, s.out_cs, s.cin, s.kernel, s.stride, s.pad);
      break;
    }
    case Op::GlobalAvgPool:
      t.global_avgpool(in, s.ih * s.iw, s.in_cs, s.cin, out);
      break;
    case Op::Flatten:
      // Channel-major, as training flattens: the next linear layer's columns need no permutation.
      k::f32_nhwc_to_nchw__ref(in, s.cin, s.ih * s.iw, s.in_cs, out);
      break;
    case Op::Fc:
      split_range(s.cout, tasks, t.gemm_nr, task, b, e);
      if (b < e) t.fc(e - b, s.cin, in, wp + static_cast<size_t>(b) * s.cin, bp + b, out + b, s.vmin, s.vmax);
      break;
  }
}

}  // namespace

InferenceEngine::InferenceEngine(const Model& model, const EngineOptions& opt)
    : impl_(new Impl), table_(opt.isa ? opt.isa : &k::kernels()) {
  if (!model.built()) throw Error("inference engine: the model is not built");
  threads_ = resolve_threads(opt.threads, "inference engine");
  input_ = model.input;
  output_ = model.output_shape();
  Model optimized = optimize_for_inference(model);
  impl_->steps = lower(optimized);
  fuse_activations(impl_->steps);
  pack_weights(*impl_, *table_, opt.max_memory_bytes);
  fuse_depthwise_pointwise(impl_->steps, opt.fuse_min_bytes);
  if (opt.chain) chain_steps(impl_->steps, opt.fuse_min_bytes);
  plan_buffers(*impl_, *table_, input_, threads_, opt.max_memory_bytes);
  impl_->tasks.push_back(threads_ > 1 && input_[1] * input_[2] >= 4096 ? 4 * threads_ : 1);
  for (const auto& s : impl_->steps) impl_->tasks.push_back(plan_tasks(s, *table_, threads_));
  for (auto& r : impl_->runs) {
    r.next.reset(new std::atomic<int>[impl_->tasks.size()]);
    r.done.reset(new std::atomic<int>[impl_->tasks.size()]);
    r.engine = this;
  }
  if (threads_ > 1) impl_->pool.reset(new WorkerPool(threads_ - 1));
  for (const auto& s : impl_->steps) {
    EngineStep e;
    e.name = s.name;
    e.kind = op_name(s.op);
    e.out = Shape{s.cout, s.oh, s.ow};
    e.macs = s.macs;
    steps_.push_back(e);
  }
  profile_ = opt.profile;
}

InferenceEngine::~InferenceEngine() = default;

// Piece j of work item w of the image in `in` (w = 0: the NCHW -> NHWC conversion; w = i + 1:
// step i). Step i reads act[i % 2] and writes act[(i + 1) % 2].
void InferenceEngine::work(const float* in, size_t w, int j, int tid) {
  Impl& im = *impl_;
  if (w == 0) {
    const int c = input_[0], pixels = input_[1] * input_[2];
    int b, e;
    split_range(pixels, im.tasks[0], 64, j, b, e);
    float* cur = im.act[0].data();
    for (int p = b; p < e; ++p)
      for (int ch = 0; ch < c; ++ch) cur[static_cast<size_t>(p) * im.in_cs + ch] = in[static_cast<size_t>(ch) * pixels + p];
    return;
  }
  const size_t i = w - 1;
  exec(im.steps[i], *table_, im, im.act[i % 2].data(), im.act[(i + 1) % 2].data(), j, im.tasks[w], tid);
}

// Every thread of an image runs this: claim pieces of each work item in order, then wait until
// the pieces other threads claimed are finished. The caller (tid 0) times the items.
void InferenceEngine::work_loop(void* run_state, int tid) {
  auto& r = *static_cast<Impl::Run*>(run_state);
  Impl& im = *impl_;
  const bool timing = profile_ && tid == 0;
  double t0 = timing ? omp_get_wtime() : 0.0, c0 = timing ? thread_cpu_seconds() : 0.0;
  for (size_t w = 0; w < im.tasks.size(); ++w) {
    const int total = im.tasks[w];
    for (int j; (j = r.next[w].fetch_add(1, std::memory_order_relaxed)) < total;) {
      work(r.in, w, j, tid);
      r.done[w].fetch_add(1, std::memory_order_release);
    }
    spin_until([&] { return r.done[w].load(std::memory_order_acquire) >= total; });
    if (timing) {
      const double t1 = omp_get_wtime(), c1 = thread_cpu_seconds();
      if (w > 0) record(w - 1, t1 - t0, c1 - c0);
      t0 = t1;
      c0 = c1;
    }
  }
}

namespace {
// Marks an engine busy for the duration of a run: a second run() while one is in progress (from
// another thread) would share the activation buffers and the pool's slots, so it is refused.
class RunGuard {
 public:
  explicit RunGuard(std::atomic<bool>& running) : running_(running) {
    if (running_.exchange(true, std::memory_order_acquire))
      throw Error("inference engine: run() called while another run of the same engine is in progress; an engine "
                  "runs one image at a time (use one engine per calling thread)");
  }
  ~RunGuard() { running_.store(false, std::memory_order_release); }
  RunGuard(const RunGuard&) = delete;
  RunGuard& operator=(const RunGuard&) = delete;

 private:
  std::atomic<bool>& running_;
};
}  // namespace

void InferenceEngine::run(const float* in, float* out) {
  RunGuard guard(impl_->running);
  run_image(in, out);
}

void InferenceEngine::run_image(const float* in, float* out) {
  Impl& im = *impl_;
  const size_t items = im.tasks.size();
  if (!im.pool) {
    for (size_t w = 0; w < items; ++w) {
      const double t0 = profile_ ? omp_get_wtime() : 0.0, c0 = profile_ ? thread_cpu_seconds() : 0.0;
      for (int j = 0; j < im.tasks[w]; ++j) work(in, w, j, 0);
      if (profile_ && w > 0) record(w - 1, omp_get_wtime() - t0, thread_cpu_seconds() - c0);
    }
  } else {
    Impl::Run& r = im.runs[im.pool->begin()];
    for (size_t w = 0; w < items; ++w) {
      r.next[w].store(0, std::memory_order_relaxed);
      r.done[w].store(0, std::memory_order_relaxed);
    }
    r.in = in;
    im.pool->offer([](void* ctx, int tid) { static_cast<Impl::Run*>(ctx)->engine->work_loop(ctx, tid); }, &r);
    work_loop(&r, 0);
  }
  // The output is classes x 1 x 1 (Model::build checks), so NHWC and NCHW coincide. With no steps
  // (a model of flatten or dropout layers on a 1 x 1 input) it is the converted input itself.
  std::memcpy(out, im.act[im.steps.size() % 2].data(), sizeof(float) * output_.numel());
}

void InferenceEngine::record(size_t step, double seconds, double cpu_seconds) {
  EngineStep& st = steps_[step];
  st.min_seconds = st.runs == 0 ? seconds : std::min(st.min_seconds, seconds);
  st.seconds += seconds;
  st.cpu_seconds += cpu_seconds;
  st.runs += 1;
}

const Tensor& InferenceEngine::run(const Tensor& x) {
  RunGuard guard(impl_->running);
  // Shapes are compared dimension by dimension: building a Shape would allocate.
  const bool single = x.rank() == 3;
  const int n = single ? 1 : x.dim(0);
  bool ok = (single || x.rank() == 4) && n >= 1;
  for (int d = 0; ok && d < 3; ++d) ok = x.dim(single ? d : d + 1) == input_[d];
  if (!ok) throw Error("inference engine: expected input N x " + input_.str() + ", got " + x.shape().str());
  bool same = out_.rank() == 4 && out_.dim(0) == n;
  for (int d = 0; same && d < 3; ++d) same = out_.dim(d + 1) == output_[d];
  if (!same) out_.resize(Shape{n, output_[0], output_[1], output_[2]});
  const size_t in_per = input_.numel(), out_per = output_.numel();
  for (int i = 0; i < n; ++i) run_image(x.data() + i * in_per, out_.data() + i * out_per);
  return out_;
}

int64_t InferenceEngine::macs() const {
  int64_t m = 0;
  for (const auto& s : steps_) m += s.macs;
  return m;
}

size_t InferenceEngine::weight_bytes() const { return impl_->weights.size() * sizeof(float); }

size_t InferenceEngine::workspace_bytes() const {
  return (impl_->act[0].size() + impl_->act[1].size() + impl_->scratch.size()) * sizeof(float);
}

void InferenceEngine::reset_profile() {
  for (auto& s : steps_) s.seconds = 0, s.min_seconds = 0, s.cpu_seconds = 0, s.runs = 0;
}

std::string InferenceEngine::summary() const {
  std::ostringstream o;
  o << "inference plan (" << table_->isa << ", " << threads_ << " thread" << (threads_ == 1 ? "" : "s") << ")\n";
  for (const auto& s : steps_)
    o << "  " << std::left << std::setw(14) << s.kind << std::setw(18) << s.out.str() << std::right << std::setw(12)
      << s.macs << "  " << s.name << "\n";
  o << "  weights " << weight_bytes() / 1024 << " KiB, workspace " << workspace_bytes() / 1024 << " KiB\n";
  return o.str();
}

}  // namespace trim
