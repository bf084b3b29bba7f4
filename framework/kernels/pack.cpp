// pack.cpp - weight packing, done once when a model is loaded for inference. The layouts are
// the ones the micro-kernels stream through: GEMM B in panels of nr output channels (each k x nr,
// so one k step is nr consecutive floats), depthwise taps tap-major with channels innermost.
#include <cstring>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

size_t packed_gemm_b_size(int n, int k, int nr) {
  return round_up(static_cast<size_t>(n), static_cast<size_t>(nr)) * static_cast<size_t>(k);
}

void pack_gemm_b(int n, int k, const float* w, size_t ldw, int nr, float* packed) {
  const size_t panels = round_up(static_cast<size_t>(n), static_cast<size_t>(nr)) / nr;
  for (size_t pn = 0; pn < panels; ++pn) {
    float* dst = packed + pn * static_cast<size_t>(k) * nr;
    for (int p = 0; p < k; ++p)
      for (int jj = 0; jj < nr; ++jj) {
        size_t j = pn * nr + jj;
        dst[static_cast<size_t>(p) * nr + jj] = j < static_cast<size_t>(n) ? w[j * ldw + p] : 0.f;
      }
  }
}

size_t packed_dwconv3x3_size(int channels) { return 9 * round_up(static_cast<size_t>(channels), kWeightAlign); }

void pack_dwconv3x3(int channels, const float* w, float* packed) {
  const size_t wcs = round_up(static_cast<size_t>(channels), kWeightAlign);
  std::memset(packed, 0, 9 * wcs * sizeof(float));
  for (int c = 0; c < channels; ++c)
    for (int t = 0; t < 9; ++t) packed[t * wcs + c] = w[c * 9 + t];
}

}  // namespace kernels
}  // namespace trim
