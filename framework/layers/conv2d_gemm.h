// conv2d_gemm.h - what the two im2col + GEMM paths of Conv2d (conv2d_gemm.cpp, conv2d_ref.cpp)
// share. Private to the layer files.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trim {
namespace conv_detail {

// Below this many multiply-adds (or elements) a parallel region costs more than it saves:
// waking the second thread is microseconds, and far worse when the cores are oversubscribed.
constexpr int64_t kParallelMin = 1 << 16;

// Floats rounded up to a whole cache line, so per-thread slices never share a line.
inline size_t round_line(size_t n) { return (n + 15) / 16 * 16; }

// dw[j] += the per-thread partial weight gradients at part + t * stride, t < nt, summed in
// thread order: fixed rounding for a fixed thread count.
void sum_partials(float* dw, size_t count, const float* part, size_t stride, int nt, bool par);

}  // namespace conv_detail
}  // namespace trim
