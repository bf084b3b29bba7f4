// gemm_neon.cpp - f32_gemm_8x8__neon: the pointwise-convolution GEMM for Armv8.0-A.
//
// Up to 8 rows x 8 columns of accumulators (16 q registers). The k loop goes four steps at a
// time: one 128-bit load brings four consecutive k values of a row of A (8 loads for 8 rows),
// two loads bring a k step of the packed weights, and each weight vector is multiplied by one
// lane of the A registers (fmla by element). Per four k steps: 8 + 8 loads for 64 FMAs, so the
// loop is almost all fmla. Rows are split into balanced blocks, the k tail (k % 4) runs one
// step at a time, and a partial last panel stores through a small stack tile.
#include <arm_neon.h>

#include <algorithm>

#include "framework/kernels/arm/neon_kernels.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

namespace {

constexpr int MR = kNeonGemmMr, NR = kNeonGemmNr;

template <int ROWS>
inline void gemm_tile(int k, const float* a, size_t lda, const float* b, const float* bias, float* c, size_t ldc,
                      float32x4_t vmin, float32x4_t vmax) {
  float32x4_t acc0[ROWS], acc1[ROWS];
  const float32x4_t bias0 = vld1q_f32(bias), bias1 = vld1q_f32(bias + 4);
  const float* ar[ROWS];
  TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) {
    acc0[r] = bias0;
    acc1[r] = bias1;
    ar[r] = a + r * lda;
  }
  int p = 0;
  for (; p + 4 <= k; p += 4) {
    float32x4_t av[ROWS];
    TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) av[r] = vld1q_f32(ar[r] + p);
#define TRIM_NEON_KSTEP(L)                                             \
  {                                                                    \
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);         \
    b += NR;                                                           \
    TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) {                                   \
      acc0[r] = vfmaq_laneq_f32(acc0[r], b0, av[r], L);                \
      acc1[r] = vfmaq_laneq_f32(acc1[r], b1, av[r], L);                \
    }                                                                  \
  }
    TRIM_NEON_KSTEP(0)
    TRIM_NEON_KSTEP(1)
    TRIM_NEON_KSTEP(2)
    TRIM_NEON_KSTEP(3)
#undef TRIM_NEON_KSTEP
  }
  for (; p < k; ++p) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
    b += NR;
    TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) {
      const float av = ar[r][p];
      acc0[r] = vfmaq_n_f32(acc0[r], b0, av);
      acc1[r] = vfmaq_n_f32(acc1[r], b1, av);
    }
  }
  TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) {
    vst1q_f32(c + r * ldc, vminq_f32(vmaxq_f32(acc0[r], vmin), vmax));
    vst1q_f32(c + r * ldc + 4, vminq_f32(vmaxq_f32(acc1[r], vmin), vmax));
  }
}

using TileFn = void (*)(int, const float*, size_t, const float*, const float*, float*, size_t, float32x4_t, float32x4_t);

TileFn tile_for(int rows) {
  switch (rows) {
    case 1: return gemm_tile<1>;
    case 2: return gemm_tile<2>;
    case 3: return gemm_tile<3>;
    case 4: return gemm_tile<4>;
    case 5: return gemm_tile<5>;
    case 6: return gemm_tile<6>;
    case 7: return gemm_tile<7>;
    default: return gemm_tile<8>;
  }
}

}  // namespace

void f32_gemm__neon(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                    const float* bias, float* c, size_t ldc, float vmin, float vmax) {
  const float32x4_t vlo = vdupq_n_f32(vmin), vhi = vdupq_n_f32(vmax);
  const int panels = (n + NR - 1) / NR;
  // Rows of A per pass sized for a 512 KB L2 (Cortex-A53/A72 class boards).
  const size_t row_bytes = static_cast<size_t>(k) * sizeof(float);
  int mc = m;
  if (static_cast<size_t>(m) * row_bytes > (256u << 10))
    mc = std::max<int>(MR, static_cast<int>((128u << 10) / row_bytes) / MR * MR);
  float tail[MR * NR];
  for (int m0 = 0; m0 < m; m0 += mc) {
    const int mm = std::min(mc, m - m0);
    const int blocks = (mm + MR - 1) / MR, base = mm / blocks, extra = mm % blocks;
    for (int pn = 0; pn < panels; ++pn) {
      const int cols = std::min(NR, n - pn * NR);
      const float* b = packed_b + static_cast<size_t>(pn) * k * NR;
      int row = m0;
      for (int bl = 0; bl < blocks; ++bl) {
        const int rows = base + (bl < extra ? 1 : 0);
        TileFn f = tile_for(rows);
        float* cp = c + row * ldc + pn * NR;
        if (cols == NR) {
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
