// fc_avx512.cpp - f32_fc__avx512: the classifier at batch 1, a matrix-vector product over the
// GEMM's packed weights. Bound by reading the weights once; four k steps in flight per panel
// (8 independent accumulators) keep the FMA latency off the critical path; the weights are
// prefetched 4 KB ahead (5-10% on a cold 1024 x 1000 classifier).
#include <immintrin.h>

// GCC 12's _mm512_min_ps/_mm512_max_ps start from _mm512_undefined_ps() and then warn that it
// may be used uninitialized: a false positive in the intrinsic headers, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>

#include "framework/kernels/kernels.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

void f32_fc__avx512(int n, int k, const float* x, const float* packed_b, const float* bias,
                    float* out, float vmin, float vmax) {
  constexpr int NR = kAvx512GemmNr;
  const __m512 vlo = _mm512_set1_ps(vmin), vhi = _mm512_set1_ps(vmax);
  const int panels = (n + NR - 1) / NR;
  for (int pn = 0; pn < panels; ++pn) {
    const float* b = packed_b + static_cast<size_t>(pn) * k * NR;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int p = 0;
    for (; p + 4 <= k; p += 4, b += 4 * NR) {
      // The weights come from L3 or memory once per image: fetch 8 k steps (4 KB) ahead.
      for (int l = 0; l < 8; ++l) _mm_prefetch(reinterpret_cast<const char*>(b + 1024 + 16 * l), _MM_HINT_T0);
      const __m512 x0 = _mm512_set1_ps(x[p]), x1 = _mm512_set1_ps(x[p + 1]);
      const __m512 x2 = _mm512_set1_ps(x[p + 2]), x3 = _mm512_set1_ps(x[p + 3]);
      a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b), a0);
      a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b + 16), a1);
      a2 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b + 32), a2);
      a3 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b + 48), a3);
      a4 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(b + 64), a4);
      a5 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(b + 80), a5);
      a6 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(b + 96), a6);
      a7 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(b + 112), a7);
    }
    for (; p < k; ++p, b += NR) {
      const __m512 x0 = _mm512_set1_ps(x[p]);
      a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b), a0);
      a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b + 16), a1);
    }
    __m512 lo = _mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a4, a6));
    __m512 hi = _mm512_add_ps(_mm512_add_ps(a1, a3), _mm512_add_ps(a5, a7));
    lo = _mm512_add_ps(lo, _mm512_loadu_ps(bias + pn * NR));
    hi = _mm512_add_ps(hi, _mm512_loadu_ps(bias + pn * NR + 16));
    const int cols = std::min(NR, n - pn * NR);
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols > 16 ? static_cast<__mmask16>((1u << (cols - 16)) - 1) : 0;
    _mm512_mask_storeu_ps(out + pn * NR, m0, _mm512_min_ps(_mm512_max_ps(lo, vlo), vhi));
    _mm512_mask_storeu_ps(out + pn * NR + 16, m1, _mm512_min_ps(_mm512_max_ps(hi, vlo), vhi));
  }
}

}  // namespace kernels
}  // namespace trim
