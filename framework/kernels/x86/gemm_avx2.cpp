// gemm_avx2.cpp - f32_gemm_6x16__avx2: the pointwise-convolution GEMM for AVX2+FMA CPUs.
//
// Same scheme as the AVX-512 kernel with 16 ymm registers: up to 6 rows x 2 ymm accumulators
// (12), two weight vectors and one broadcast per k step. Rows are split into balanced blocks;
// a column tail (the last panel holding fewer than 16 real channels) goes through a small
// stack tile so that no store touches a lane past n.
#include <immintrin.h>

#include <algorithm>

#include "framework/kernels/kernels.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

namespace {

constexpr int MR = kAvx2GemmMr, NR = kAvx2GemmNr;
constexpr int kPrefetch = 32 * NR;  // floats ahead in the packed weights

template <int ROWS, int NV>
inline void gemm_tile(int k, const float* a, size_t lda, const float* b, const float* bias, float* c,
                      size_t ldc, __m256 vmin, __m256 vmax) {
  __m256 acc[ROWS][NV];
  const __m256 bias0 = _mm256_loadu_ps(bias);
  const __m256 bias1 = NV > 1 ? _mm256_loadu_ps(bias + 8) : bias0;
  for (int r = 0; r < ROWS; ++r) {
    acc[r][0] = bias0;
    if (NV > 1) acc[r][NV - 1] = bias1;
  }
  const float* ar[ROWS];
  for (int r = 0; r < ROWS; ++r) ar[r] = a + r * lda;
  for (int p = 0; p < k; ++p) {
    // Weights stream from L3 or memory: fetch them 32 k steps ahead (see the AVX-512 kernel).
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetch), _MM_HINT_T0);
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = NV > 1 ? _mm256_loadu_ps(b + 8) : b0;
    b += NR;
    for (int r = 0; r < ROWS; ++r) {
      const __m256 av = _mm256_broadcast_ss(ar[r] + p);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      if (NV > 1) acc[r][NV - 1] = _mm256_fmadd_ps(av, b1, acc[r][NV - 1]);
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    float* cr = c + r * ldc;
    _mm256_storeu_ps(cr, _mm256_min_ps(_mm256_max_ps(acc[r][0], vmin), vmax));
    if (NV > 1) _mm256_storeu_ps(cr + 8, _mm256_min_ps(_mm256_max_ps(acc[r][NV - 1], vmin), vmax));
  }
}

using TileFn = void (*)(int, const float*, size_t, const float*, const float*, float*, size_t, __m256, __m256);

template <int NV>
TileFn tile_for(int rows) {
  switch (rows) {
    case 1: return gemm_tile<1, NV>;
    case 2: return gemm_tile<2, NV>;
    case 3: return gemm_tile<3, NV>;
    case 4: return gemm_tile<4, NV>;
    case 5: return gemm_tile<5, NV>;
    default: return gemm_tile<6, NV>;
  }
}

}  // namespace

void f32_gemm__avx2(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                    const float* bias, float* c, size_t ldc, float vmin, float vmax) {
  const __m256 vlo = _mm256_set1_ps(vmin), vhi = _mm256_set1_ps(vmax);
  const int panels = (n + NR - 1) / NR;
  const size_t row_bytes = static_cast<size_t>(k) * sizeof(float);
  int mc = m;  // row chunking as in the AVX-512 kernel: A rows stay in L2 across the panels
  if (static_cast<size_t>(m) * row_bytes > (512u << 10))
    mc = std::max<int>(MR, static_cast<int>((256u << 10) / row_bytes) / MR * MR);
  alignas(32) float tail[MR * NR];
  for (int m0 = 0; m0 < m; m0 += mc) {
    const int mm = std::min(mc, m - m0);
    const int blocks = (mm + MR - 1) / MR, base = mm / blocks, extra = mm % blocks;
    for (int pn = 0; pn < panels; ++pn) {
      const int cols = std::min(NR, n - pn * NR);
      const float* b = packed_b + static_cast<size_t>(pn) * k * NR;
      int row = m0;
      for (int bl = 0; bl < blocks; ++bl) {
        const int rows = base + (bl < extra ? 1 : 0);
        TileFn f = cols > 8 ? tile_for<2>(rows) : tile_for<1>(rows);
        float* cp = c + row * ldc + pn * NR;
        if (cols == NR || cols == 8) {
          f(k, a + row * lda, lda, b, bias + pn * NR, cp, ldc, vlo, vhi);
        } else {
          f(k, a + row * lda, lda, b, bias + pn * NR, tail, NR, vlo, vhi);
          for (int r = 0; r < rows; ++r)
            for (int j = 0; j < cols; ++j) cp[r * ldc + j] = tail[r * NR + j];
        }
        row += rows;
      }
    }
  }
}

}  // namespace kernels
}  // namespace trim
