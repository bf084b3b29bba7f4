// conv2d_gemm.h - what the two im2col + GEMM paths of Conv2d (conv2d_gemm.cpp, conv2d_ref.cpp)
// share. Private to the layer files.
#pragma once

#include <cstddef>
#include <cstdint>

#include "framework/layers/conv2d.h"
#include "framework/layers/im2col.h"

namespace trim {
namespace conv_detail {

// Below this many multiply-adds (or elements) a parallel region costs more than it saves:
// waking the second thread is microseconds, and far worse when the cores are oversubscribed.
constexpr int64_t kParallelMin = 1 << 16;

// Floats rounded up to a whole cache line, so per-thread slices never share a line.
inline size_t round_line(size_t n) { return (n + 15) / 16 * 16; }

// The sizes every GEMM path of a (set-up, not depthwise) convolution starts from.
struct GemmDims {
  int hw, ohw;    // input and output pixels per plane
  int cg, ocg;    // input and output channels per group
  int kdim;       // rows of one group's column matrix: cg * k * k
  bool pointwise;  // 1x1, stride 1, unpadded: the input planes already are the column matrix
  ConvGeom geom;  // one group of one image
};

inline GemmDims gemm_dims(const Conv2d& c) {
  const Shape &in = c.in_shape(), &out = c.out_shape();
  const int cg = c.in_channels / c.groups;
  return {in[1] * in[2], out[1] * out[2], cg, c.out_channels / c.groups, cg * c.kernel * c.kernel,
          c.kernel == 1 && c.stride == 1 && c.pad == 0, ConvGeom{cg, in[1], in[2], out[1], out[2], c.kernel, c.stride, c.pad}};
}

// dw[j] += the per-thread partial weight gradients at part + t * stride, t < nt, summed in
// thread order: fixed rounding for a fixed thread count.
void sum_partials(float* dw, size_t count, const float* part, size_t stride, int nt, bool par);

}  // namespace conv_detail
}  // namespace trim
