// fc_avx2.cpp - f32_fc__avx2: the classifier at batch 1 (matrix-vector over the packed GEMM
// weights), four k steps in flight per 16-column panel.
#include <immintrin.h>

#include <algorithm>

#include "framework/kernels/kernels.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

void f32_fc__avx2(int n, int k, const float* x, const float* packed_b, const float* bias, float* out,
                  float vmin, float vmax) {
  constexpr int NR = kAvx2GemmNr;
  const __m256 vlo = _mm256_set1_ps(vmin), vhi = _mm256_set1_ps(vmax);
  const int panels = (n + NR - 1) / NR;
  for (int pn = 0; pn < panels; ++pn) {
    const float* b = packed_b + static_cast<size_t>(pn) * k * NR;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int p = 0;
    for (; p + 4 <= k; p += 4, b += 4 * NR) {
      // The weights come from L3 or memory once per image: fetch 16 k steps (4 KB) ahead.
      for (int l = 0; l < 4; ++l) _mm_prefetch(reinterpret_cast<const char*>(b + 1024 + 16 * l), _MM_HINT_T0);
      const __m256 x0 = _mm256_broadcast_ss(x + p), x1 = _mm256_broadcast_ss(x + p + 1);
      const __m256 x2 = _mm256_broadcast_ss(x + p + 2), x3 = _mm256_broadcast_ss(x + p + 3);
      a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b), a0);
      a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b + 8), a1);
      a2 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b + 16), a2);
      a3 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b + 24), a3);
      a4 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(b + 32), a4);
      a5 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(b + 40), a5);
      a6 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(b + 48), a6);
      a7 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(b + 56), a7);
    }
    for (; p < k; ++p, b += NR) {
      const __m256 x0 = _mm256_broadcast_ss(x + p);
      a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b), a0);
      a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b + 8), a1);
    }
    __m256 lo = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a4, a6));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(a1, a3), _mm256_add_ps(a5, a7));
    lo = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(lo, _mm256_loadu_ps(bias + pn * NR)), vlo), vhi);
    hi = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(hi, _mm256_loadu_ps(bias + pn * NR + 8)), vlo), vhi);
    const int cols = std::min(NR, n - pn * NR);
    float* o = out + pn * NR;
    if (cols == NR) {
      _mm256_storeu_ps(o, lo);
      _mm256_storeu_ps(o + 8, hi);
    } else {
      alignas(32) float t[NR];
      _mm256_store_ps(t, lo);
      _mm256_store_ps(t + 8, hi);
      for (int j = 0; j < cols; ++j) o[j] = t[j];
    }
  }
}

}  // namespace kernels
}  // namespace trim
