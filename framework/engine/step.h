// step.h - the inference plan's unit: one Step per kernel call sequence, produced by lowering
// (lower.h), merged by fusion (fuse.h), given weights by packing (pack.h), buffers and thread
// pieces by planning (plan.h) and executed by the ops (ops.h). Internal to framework/engine.
//
// Data flow is by value id: value 0 is the network input (converted to NHWC), every other value
// is the output of exactly one step. A step reads the values in `inputs` and writes `output`;
// planning maps values to activation buffers by lifetime, so a value several steps read stays
// alive until the last of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace trim {
namespace engine_detail {

constexpr float kInf = std::numeric_limits<float>::infinity();

enum class Op { Pointwise, Conv, DwConv, DwPw, Chain, GroupConv, Affine, Clamp, MaxPool, AvgPool, GlobalAvgPool, Flatten, Fc };

inline const char* op_name(Op op) {
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

// Steps whose kernel clamps its output, so a following ReLU / ReLU6 costs nothing.
inline bool has_clamp(Op op) {
  return op == Op::Pointwise || op == Op::Conv || op == Op::DwConv || op == Op::GroupConv || op == Op::Affine ||
         op == Op::Clamp || op == Op::Fc;
}

struct Step {
  Op op;
  std::string name;
  std::vector<int> inputs;  // value ids read (every op today reads one)
  int output = -1;          // value id written
  int in_buf = 0, out_buf = 0;  // activation buffers of inputs[0] and output (plan_buffers)
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

// Output floats of a step in its NHWC buffer (64 bits: a map has at most 2^31 floats and its
// channel stride at most a vector more per pixel than its channels).
inline size_t output_floats(const Step& s) { return static_cast<size_t>(s.oh) * s.ow * s.out_cs; }

// How many steps read value v.
inline int consumers(const std::vector<Step>& steps, int v) {
  int n = 0;
  for (const auto& s : steps)
    for (int in : s.inputs) n += in == v;
  return n;
}

}  // namespace engine_detail
}  // namespace trim
