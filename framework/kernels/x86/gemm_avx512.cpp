// gemm_avx512.cpp - f32_gemm_12x32__avx512: the pointwise-convolution GEMM.
//
// C (m pixels x n output channels, NHWC) = A (m x k, NHWC activations, read in place) times the
// packed weights (panels of 32 output channels, k x 32 each). The micro-tile keeps up to
// 12 x 2 zmm accumulators in registers; each k step loads two weight vectors and broadcasts one
// activation per row, so 24 FMAs cost 14 loads and the two FMA ports stay busy. Bias and the
// clamp (ReLU/ReLU6) are applied before the single store of each output.
//
// Rows are split into balanced blocks (49 rows -> 10+10+10+10+9 rather than 12+12+12+12+1) so
// the small 7x7 and 14x14 layers never run a 1-row tile. Column tails use AVX-512 masks.
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

namespace {

constexpr int MR = kAvx512GemmMr, NR = kAvx512GemmNr;

// One tile of ROWS x (16*NV) outputs. m0/m1: store masks of the two column vectors.
template <int ROWS, int NV>
inline void gemm_tile(int k, const float* a, size_t lda, const float* b, const float* bias, float* c,
                      size_t ldc, __m512 vmin, __m512 vmax, __mmask16 m0, __mmask16 m1) {
  __m512 acc[ROWS][NV];
  const __m512 bias0 = _mm512_loadu_ps(bias);
  const __m512 bias1 = NV > 1 ? _mm512_loadu_ps(bias + 16) : bias0;
  for (int r = 0; r < ROWS; ++r) {
    acc[r][0] = bias0;
    if (NV > 1) acc[r][NV - 1] = bias1;
  }
  const float* ar[ROWS];
  for (int r = 0; r < ROWS; ++r) ar[r] = a + r * lda;
  for (int p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = NV > 1 ? _mm512_loadu_ps(b + 16) : b0;
    b += NR;
    for (int r = 0; r < ROWS; ++r) {
      const __m512 av = _mm512_set1_ps(ar[r][p]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      if (NV > 1) acc[r][NV - 1] = _mm512_fmadd_ps(av, b1, acc[r][NV - 1]);
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    float* cr = c + r * ldc;
    _mm512_mask_storeu_ps(cr, m0, _mm512_min_ps(_mm512_max_ps(acc[r][0], vmin), vmax));
    if (NV > 1) _mm512_mask_storeu_ps(cr + 16, m1, _mm512_min_ps(_mm512_max_ps(acc[r][NV - 1], vmin), vmax));
  }
}

using TileFn = void (*)(int, const float*, size_t, const float*, const float*, float*, size_t, __m512,
                        __m512, __mmask16, __mmask16);

template <int NV>
TileFn tile_for(int rows) {
  switch (rows) {
    case 1: return gemm_tile<1, NV>;
    case 2: return gemm_tile<2, NV>;
    case 3: return gemm_tile<3, NV>;
    case 4: return gemm_tile<4, NV>;
    case 5: return gemm_tile<5, NV>;
    case 6: return gemm_tile<6, NV>;
    case 7: return gemm_tile<7, NV>;
    case 8: return gemm_tile<8, NV>;
    case 9: return gemm_tile<9, NV>;
    case 10: return gemm_tile<10, NV>;
    case 11: return gemm_tile<11, NV>;
    default: return gemm_tile<12, NV>;
  }
}

inline __mmask16 lanes(int n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }

}  // namespace

void f32_gemm__avx512(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                      const float* bias, float* c, size_t ldc, float vmin, float vmax) {
  const __m512 vlo = _mm512_set1_ps(vmin), vhi = _mm512_set1_ps(vmax);
  const int panels = (n + NR - 1) / NR;
  // Keep the rows of A one pass works on within ~256 KB of L2 while every weight panel streams
  // past them; small GEMMs (the 7x7 and 14x14 layers) run as one chunk so the weights, the big
  // operand there, are read once.
  const size_t row_bytes = static_cast<size_t>(k) * sizeof(float);
  int mc = m;
  if (static_cast<size_t>(m) * row_bytes > (512u << 10))
    mc = std::max<int>(MR, static_cast<int>((256u << 10) / row_bytes) / MR * MR);
  for (int m0 = 0; m0 < m; m0 += mc) {
    const int mm = std::min(mc, m - m0);
    const int blocks = (mm + MR - 1) / MR, base = mm / blocks, extra = mm % blocks;
    for (int pn = 0; pn < panels; ++pn) {
      const int cols = std::min(NR, n - pn * NR);
      const __mmask16 k0 = lanes(cols), k1 = lanes(std::max(cols - 16, 0));
      const float* b = packed_b + static_cast<size_t>(pn) * k * NR;
      int row = m0;
      for (int bl = 0; bl < blocks; ++bl) {
        const int rows = base + (bl < extra ? 1 : 0);
        TileFn f = cols > 16 ? tile_for<2>(rows) : tile_for<1>(rows);
        f(k, a + row * lda, lda, b, bias + pn * NR, c + row * ldc + pn * NR, ldc, vlo, vhi, k0, k1);
        row += rows;
      }
    }
  }
}

}  // namespace kernels
}  // namespace trim
