// gemm_avx512.cpp - f32_gemm_12x32__avx512 and f32_gemm_6x64__avx512: the pointwise-convolution
// GEMM.
//
// C (m pixels x n output channels, NHWC) = A (m x k, NHWC activations, read in place) times the
// packed weights (panels of 32 output channels, k x 32 each). Two register tiles, both 24 zmm
// accumulators:
//   12 rows x 32 columns: per k step 2 weight loads + 12 broadcasts feed 24 FMAs;
//    6 rows x 64 columns (two neighbouring panels): 4 weight loads + 6 broadcasts.
// The 6x64 tile wins when k is short (the first pointwise layers: k = 32 .. 128), where fewer
// rows of A in flight and fewer broadcasts per FMA matter, and again when k is long (k >= 512:
// the 14x14 and 7x7 layers), where the 12 rows of A a 12x32 tile streams (24 KB and more) no
// longer sit in L1 next to the weights: measured 3-7% faster there (49x1024x1024,
// 196x512x512), the same or slightly slower at k = 256. Bias and the clamp (ReLU/ReLU6) are
// applied before the single store of each output.
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
constexpr int kWideMr = 6;           // rows of the 6x64 tile
constexpr int kWideMaxK = 128;       // k up to which the 6x64 tile is used,
constexpr int kWideMinLongK = 512;   // and from which on again
constexpr int kPrefetch = 32 * NR;   // floats ahead in the packed weights
constexpr int kL2PrefetchMinK = 512;  // from this k on (the 6x64 tile), tiles also warm the next column block

// One tile of ROWS x (16*NV) outputs. Vectors 0, 1 come from panel b, vectors 2, 3 from the
// next panel b2 (NV > 2 only); m[v] masks the stores of vector v.
template <int ROWS, int NV, bool PF>
inline void gemm_tile(int k, const float* a, size_t lda, const float* b, const float* b2, const float* bias,
                      float* c, size_t ldc, __m512 vmin, __m512 vmax, const __mmask16* m, const char* l2_pf,
                      const char* l2_pf_end) {
  __m512 acc[ROWS][NV];
  for (int v = 0; v < NV; ++v) {
    const __m512 bv = _mm512_loadu_ps(bias + 16 * v);
    for (int r = 0; r < ROWS; ++r) acc[r][v] = bv;
  }
  const float* ar[ROWS];
  for (int r = 0; r < ROWS; ++r) ar[r] = a + r * lda;
  for (int p = 0; p < k; ++p) {
    // The weights are the operand that comes from L3 or memory (16 MB for MobileNet 1.0):
    // fetch them 32 k steps ahead; past the end of a panel this warms the next one.
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetch), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetch + 16), _MM_HINT_T0);
    __m512 bv[NV];
    bv[0] = _mm512_loadu_ps(b);
    if (NV > 1) bv[1] = _mm512_loadu_ps(b + 16);
    if (NV > 2) {
      _mm_prefetch(reinterpret_cast<const char*>(b2 + kPrefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(b2 + kPrefetch + 16), _MM_HINT_T0);
      bv[2] = _mm512_loadu_ps(b2);
      if (NV > 3) bv[3] = _mm512_loadu_ps(b2 + 16);
      b2 += NR;
    }
    b += NR;
    // One line of the next column block towards L2 per k step, so that block does not start
    // cold from L3.
    if (PF && l2_pf < l2_pf_end) {
      _mm_prefetch(l2_pf, _MM_HINT_T1);
      l2_pf += 64;
    }
    for (int r = 0; r < ROWS; ++r) {
      const __m512 av = _mm512_set1_ps(ar[r][p]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < ROWS; ++r) {
    float* cr = c + r * ldc;
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(cr + 16 * v, m[v], _mm512_min_ps(_mm512_max_ps(acc[r][v], vmin), vmax));
  }
}

using TileFn = void (*)(int, const float*, size_t, const float*, const float*, const float*, float*, size_t, __m512,
                        __m512, const __mmask16*, const char*, const char*);

template <int NV, bool PF>
TileFn tile_for(int rows) {
  switch (rows) {
    case 1: return gemm_tile<1, NV, PF>;
    case 2: return gemm_tile<2, NV, PF>;
    case 3: return gemm_tile<3, NV, PF>;
    case 4: return gemm_tile<4, NV, PF>;
    case 5: return gemm_tile<5, NV, PF>;
    case 6: return gemm_tile<6, NV, PF>;
    case 7: return NV > 2 ? gemm_tile<6, NV, PF> : gemm_tile<7, NV, PF>;
    case 8: return NV > 2 ? gemm_tile<6, NV, PF> : gemm_tile<8, NV, PF>;
    case 9: return NV > 2 ? gemm_tile<6, NV, PF> : gemm_tile<9, NV, PF>;
    case 10: return NV > 2 ? gemm_tile<6, NV, PF> : gemm_tile<10, NV, PF>;
    case 11: return NV > 2 ? gemm_tile<6, NV, PF> : gemm_tile<11, NV, PF>;
    default: return NV > 2 ? gemm_tile<6, NV, PF> : gemm_tile<12, NV, PF>;
  }
}

// PF: the tile also prefetches the next column block into L2 (only where weights are large:
// the extra pointers in the k loop cost registers, 50% on the 12544 x 32 x 64 layer).
TileFn tile_for(int rows, int nv, bool pf) {
  switch (nv) {
    case 1: return pf ? tile_for<1, true>(rows) : tile_for<1, false>(rows);
    case 2: return pf ? tile_for<2, true>(rows) : tile_for<2, false>(rows);
    case 3: return pf ? tile_for<3, true>(rows) : tile_for<3, false>(rows);
    default: return pf ? tile_for<4, true>(rows) : tile_for<4, false>(rows);
  }
}

inline __mmask16 lanes(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1);
}

}  // namespace

void f32_gemm__avx512(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                      const float* bias, float* c, size_t ldc, float vmin, float vmax) {
  const __m512 vlo = _mm512_set1_ps(vmin), vhi = _mm512_set1_ps(vmax);
  const int panels = (n + NR - 1) / NR;
  const bool wide = k <= kWideMaxK || k >= kWideMinLongK;
  const int group = wide ? 2 : 1;  // panels per column block
  const int mr = wide ? kWideMr : MR;
  // Keep the rows of A one pass works on within ~256 KB of L2 while every weight panel streams
  // past them; small GEMMs (the 7x7 and 14x14 layers) run as one chunk so the weights, the big
  // operand there, are read once.
  const size_t row_bytes = static_cast<size_t>(k) * sizeof(float);
  int mc = m;
  if (static_cast<size_t>(m) * row_bytes > (512u << 10))
    mc = std::max<int>(MR, static_cast<int>((256u << 10) / row_bytes) / MR * MR);
  for (int m0 = 0; m0 < m; m0 += mc) {
    const int mm = std::min(mc, m - m0);
    for (int pn = 0; pn < panels; pn += group) {
      const int cols = std::min(group * NR, n - pn * NR);
      const int nv = (cols + 15) / 16;
      // A block with at most 32 columns runs the 12-row tile even in wide mode.
      const int rows_max = nv > 2 ? mr : MR;
      const int blocks = (mm + rows_max - 1) / rows_max, base = mm / blocks, extra = mm % blocks;
      const __mmask16 masks[4] = {lanes(cols), lanes(cols - 16), lanes(cols - 32), lanes(cols - 48)};
      const float* b = packed_b + static_cast<size_t>(pn) * k * NR;
      const float* b2 = b + static_cast<size_t>(k) * NR;
      // The next column block's weights, split evenly over this block's tiles.
      const char* pf = reinterpret_cast<const char*>(b + static_cast<size_t>(group) * k * NR);
      const char* pf_end = reinterpret_cast<const char*>(packed_b + static_cast<size_t>(std::min(panels, pn + 2 * group)) * k * NR);
      if (pn + group >= panels || k < kL2PrefetchMinK) pf = pf_end;
      const size_t pf_per_tile = pf < pf_end ? ((pf_end - pf) / blocks + 63) / 64 * 64 : 0;
      int row = m0;
      for (int bl = 0; bl < blocks; ++bl) {
        const int rows = base + (bl < extra ? 1 : 0);
        const char* pe = std::min(pf_end, pf + pf_per_tile);
        tile_for(rows, nv, pf < pf_end)(k, a + row * lda, lda, b, b2, bias + pn * NR, c + row * ldc + pn * NR, ldc, vlo, vhi, masks, pf, pe);
        pf = pe;
        row += rows;
      }
    }
  }
}

}  // namespace kernels
}  // namespace trim
