// gemm_ref.cpp - scalar GEMM and FC over the packed B layout: the definitions the vector
// micro-kernels are tested against.
#include <algorithm>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

namespace {
// B[p][j] inside panels of nr columns (see pack_gemm_b).
inline float packed_at(const float* pb, int k, int nr, int p, int j) {
  return pb[static_cast<size_t>(j / nr) * k * nr + static_cast<size_t>(p) * nr + j % nr];
}
// The reference table's panel width: the layout is the same for every nr, only the panel size
// differs, so the reference reads whatever nr the table says (dispatch.cpp sets 8).
constexpr int kRefNr = 8;
}  // namespace

void f32_gemm__ref(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                   const float* bias, float* c, size_t ldc, float vmin, float vmax) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float acc = bias[j];
      for (int p = 0; p < k; ++p) acc += a[static_cast<size_t>(i) * lda + p] * packed_at(packed_b, k, kRefNr, p, j);
      c[static_cast<size_t>(i) * ldc + j] = std::min(std::max(acc, vmin), vmax);
    }
}

void f32_fc__ref(int n, int k, const float* x, const float* packed_b, const float* bias, float* out,
                 float vmin, float vmax) {
  f32_gemm__ref(1, n, k, x, static_cast<size_t>(k), packed_b, bias, out, static_cast<size_t>(n), vmin, vmax);
}

}  // namespace kernels
}  // namespace trim
