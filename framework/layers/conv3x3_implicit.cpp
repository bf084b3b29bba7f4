// conv3x3_implicit.cpp - the layer side of training's 3x3, stride-1, padding-1 convolution
// (see conv3x3_implicit.h): weight packing and scratch sizes, and the calls into the kernel
// table (framework/kernels/x86/train_conv3x3_avx512.cpp holds the AVX-512 kernels). Where the
// table has no such kernel (TRIM_ISA=ref, AVX2, NEON), conv3x3_implicit_available() is false and
// the caller keeps im2col + sgemm.
#include "framework/layers/conv3x3_implicit.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "framework/kernels/train_conv3x3.h"
#include "framework/tensor.h"

namespace trim {
namespace conv_detail {

namespace {
constexpr int kRows = kernels::kTrainConv3x3Rows;
constexpr int kLanes = kernels::kTrainConv3x3Lanes;
constexpr int kChannels = kernels::kTrainConv3x3Channels;
}  // namespace

size_t conv3x3_panel_floats(int m, int c) {
  return static_cast<size_t>(9) * std::min(c, kChannels) * kLanes + static_cast<size_t>(m) * kLanes;
}
size_t conv3x3_packed_floats(int m, int c) { return static_cast<size_t>(m) * 9 * c; }

size_t conv3x3_dweight_scratch_floats(int m, int c, int h, int w) {
  return static_cast<size_t>(kernels::train_conv3x3_dweight_group(h, w)) *
         (static_cast<size_t>(c) * (h + 2) * (w + 2) + static_cast<size_t>(m) * h * w);
}

void conv3x3_pack_weights(float* packed, const float* a, int m, int c, int tile) {
  (void)m;
  const int k = 9 * c, r0 = tile * kRows;
  float* dst = packed + static_cast<size_t>(r0) * k;
  for (int j = 0; j < k; ++j)
    for (int r = 0; r < kRows; ++r) dst[static_cast<size_t>(j) * kRows + r] = a[static_cast<size_t>(r0 + r) * k + j];
}

void conv3x3_pack_weights_flipped(float* packed, const float* w, int m, int c, int tile) {
  const int k = 9 * c, r0 = tile * kRows;
  float* dst = packed + static_cast<size_t>(r0) * k;
  for (int oc = 0; oc < c; ++oc)
    for (int t = 0; t < 9; ++t)
      for (int r = 0; r < kRows; ++r)
        dst[(static_cast<size_t>(oc) * 9 + t) * kRows + r] = w[(static_cast<size_t>(oc) * m + r0 + r) * 9 + 8 - t];
}

bool conv3x3_implicit_available(int m, const kernels::KernelTable& t) {
  return t.train_conv3x3 && m > 0 && m % kRows == 0;
}

bool conv3x3_dweight_available(int m, int c, const kernels::KernelTable& t) {
  return t.train_conv3x3_dweight && m > 0 && m % kLanes == 0 && c > 0 && c % kRows == 0;
}

void conv3x3_implicit_dweight(float* dwt, const float* dy, size_t dy_stride, const float* x, size_t x_stride, int m,
                              int c, int h, int w, int i0, int i1, float* scratch, const kernels::KernelTable& t) {
  if (!conv3x3_dweight_available(m, c, t))
    throw Error(std::string("conv3x3_implicit_dweight: the ") + t.isa + " kernels have none for " + std::to_string(m) +
                " filters over " + std::to_string(c) + " channels");
  t.train_conv3x3_dweight(dwt, dy, dy_stride, x, x_stride, m, c, h, w, i0, i1, scratch);
}

void conv3x3_implicit(float* out, size_t out_stride, const float* in, size_t in_stride, const float* packed, int m,
                      int c, int h, int w, int i0, int i1, float* panel, const kernels::KernelTable& t) {
  if (!conv3x3_implicit_available(m, t))
    throw Error(std::string("conv3x3_implicit: the ") + t.isa + " kernels have none for " + std::to_string(m) + " filters");
  t.train_conv3x3(out, out_stride, in, in_stride, packed, m, c, h, w, i0, i1, panel);
}

}  // namespace conv_detail
}  // namespace trim
