// plan.cpp - planning (see plan.h).
#include "framework/engine/plan.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace trim {
namespace engine_detail {

namespace k = kernels;

namespace {
// Whole units of `granule` in `total`, in 64 bits (total + granule may pass INT_MAX).
int64_t units_of(int64_t total, int granule) { return (total + granule - 1) / granule; }
}  // namespace

std::string mib(size_t bytes) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << bytes / double(1 << 20) << " MiB";
  return o.str();
}

void check_memory(size_t bytes, size_t max_bytes, const std::string& what) {
  if (bytes > max_bytes)
    throw Error("inference engine: " + what + " need" + (what.back() == 's' ? "" : "s") + " " + mib(bytes) +
                ", more than the " + mib(max_bytes) + " limit (EngineOptions::max_memory_bytes)");
}

void assign_channel_strides(std::vector<Step>& steps, const k::KernelTable& t) {
  for (auto& s : steps) {
    s.in_cs = 0;  // set by plan_buffers
    s.out_cs = s.op == Op::Flatten ? static_cast<size_t>(s.cout) : k::activation_channel_stride(s.cout, t);
  }
}

BufferPlan plan_buffers(std::vector<Step>& steps, const k::KernelTable& t, const Shape& input, int threads,
                        size_t weight_floats, size_t max_bytes) {
  BufferPlan p;
  const int c0 = input[0];
  // The network input keeps its channel count as stride when it is narrower than a vector (the
  // RGB stem: 3 floats per pixel, not 16, is what im2col copies).
  p.in_cs = c0 < t.channel_align ? static_cast<size_t>(c0) : k::activation_channel_stride(c0, t);

  // Every value's size and channel stride (value 0: the input; value s.output: step s's).
  int values = 1;
  for (const auto& s : steps) values = std::max(values, s.output + 1);
  std::vector<size_t> floats(static_cast<size_t>(values), 0), cs(static_cast<size_t>(values), 0);
  std::vector<std::string> what(static_cast<size_t>(values));
  // Sizes in size_t: a map has at most 2^31 floats (Model::build) and its channel stride is at
  // most a vector more per pixel than its channels, so no product overflows 64 bits.
  floats[0] = static_cast<size_t>(input[1]) * input[2] * p.in_cs;
  cs[0] = p.in_cs;
  what[0] = "the input " + input.str() + " at channel stride " + std::to_string(p.in_cs);
  for (const auto& s : steps) {
    floats[s.output] = output_floats(s);
    cs[s.output] = s.out_cs;
    what[s.output] = "step '" + s.name + "' output " + Shape{s.cout, s.oh, s.ow}.str() + " at channel stride " +
                     std::to_string(s.out_cs);
  }

  // Lifetimes: the last step reading each value; the model's output lives to the end.
  const int n = static_cast<int>(steps.size());
  const int out_value = steps.empty() ? 0 : steps.back().output;
  std::vector<int> last_use(static_cast<size_t>(values), -1);
  for (int i = 0; i < n; ++i)
    for (int v : steps[i].inputs) last_use[v] = std::max(last_use[v], i);
  last_use[out_value] = n;

  // Buffers: holder[b] is the value buffer b holds while it is live (-1: free).
  std::vector<int> holder, buf_of(static_cast<size_t>(values), -1);
  auto take = [&](int v) {
    size_t b = 0;
    while (b < holder.size() && holder[b] >= 0) ++b;
    if (b == holder.size()) holder.push_back(-1);
    holder[b] = v;
    buf_of[v] = static_cast<int>(b);
  };
  take(0);
  for (int i = 0; i < n; ++i) {
    Step& s = steps[i];
    take(s.output);  // the inputs are still held: never the buffer of one
    s.in_buf = buf_of[s.inputs[0]];
    s.out_buf = buf_of[s.output];
    s.in_cs = cs[s.inputs[0]];
    for (auto& h : holder)
      if (h >= 0 && last_use[h] <= i) h = -1;  // read for the last time by this step
  }
  p.input_buf = buf_of[0];
  p.output_buf = buf_of[out_value];

  // Scratch per thread: the largest any step needs.
  size_t scratch = 0;
  std::string scratch_what;
  auto need_scratch = [&](size_t f, const Step& s) {
    if (f > scratch) scratch = f, scratch_what = s.name;
  };
  for (auto& s : steps) {
    if (s.op == Op::Conv) need_scratch(k::conv2d_scratch_size(t, s.kernel, s.cin), s);
    if (s.op == Op::DwPw) need_scratch(static_cast<size_t>(s.band_rows) * s.ow * s.mid_cs, s);
    if (s.op == Op::Chain) {
      Step& a = s.sub[0];
      Step& b = s.sub[1];
      a.in_cs = s.in_cs;
      b.in_cs = a.out_cs;
      // X rows a band of b needs: (band_rows - 1) * stride + 3.
      const size_t win_rows = static_cast<size_t>(b.band_rows - 1) * b.stride + 3;
      auto up = [](size_t f) { return k::round_up(f, 16); };
      s.win_off = 0;
      s.band0_off = up(win_rows * a.ow * a.out_cs);
      s.band1_off = s.band0_off + up(a.op == Op::DwPw ? static_cast<size_t>(a.band_rows) * a.ow * a.mid_cs : 0);
      s.conv_off = s.band1_off + up(static_cast<size_t>(b.band_rows) * b.ow * b.mid_cs);
      s.chain_scratch = s.conv_off + (a.op == Op::Conv ? k::conv2d_scratch_size(t, a.kernel, a.cin) : 0);
      need_scratch(s.chain_scratch, s);
    }
  }
  p.scratch_per_thread = k::round_up(scratch, 16);

  // Every buffer as large as the largest value (see plan.h).
  const int biggest = static_cast<int>(std::max_element(floats.begin(), floats.end()) - floats.begin());
  p.buffer_floats.assign(holder.size(), std::max<size_t>(floats[biggest], 1));

  // Refuse what cannot fit before anything is allocated, naming the largest part.
  const size_t act_bytes = floats[biggest] * sizeof(float) * holder.size();
  const size_t scratch_bytes = p.scratch_per_thread * threads * sizeof(float);
  const size_t total = weight_floats * sizeof(float) + act_bytes + scratch_bytes;
  if (total > max_bytes) {
    const std::string why = act_bytes >= scratch_bytes
                                ? std::to_string(holder.size()) + " activation buffers of " +
                                      mib(floats[biggest] * sizeof(float)) + " for " + what[biggest]
                                : "scratch of " + mib(p.scratch_per_thread * sizeof(float)) + " per thread x " +
                                      std::to_string(threads) + " threads for step '" + scratch_what + "'";
    check_memory(total, max_bytes, "the plan (" + why + ")");
  }
  return p;
}

void plan_splits(std::vector<Step>& steps, const k::KernelTable& t, int threads) {
  for (auto& s : steps) {
    if (s.op != Op::Pointwise) continue;
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

// Task decomposition: every step is cut into pieces that threads claim one at a time, so a
// thread the OS has taken away (the machine is shared) holds up at most the piece it is running,
// never a fixed half of the layer.
int plan_tasks(const Step& s, const k::KernelTable& t, int threads) {
  if (s.op == Op::DwPw) return static_cast<int>(units_of(s.oh, s.band_rows));  // bands, even on one thread
  if (threads <= 1) return 1;
  // A chain piece recomputes the one or two rows of X above its first band: few, long pieces.
  if (s.op == Op::Chain)
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(units_of(s.oh, s.band_rows), 2 * threads)));
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

}  // namespace engine_detail
}  // namespace trim
