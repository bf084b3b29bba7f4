// conv3x3_neon.cpp - f32_conv3x3__neon: standard 3x3 convolution (groups = 1, any stride and
// padding) straight from the NHWC input for Armv8.0-A, no im2col: the MobileNet RGB stem and
// every SICK-Net conv. Before it, NEON ran these through the scalar f32_im2col_nhwc__ref (37% of
// the pruned 3-class SICK-Net's instructions).
//
// An implicit GEMM with the GEMM's register tile (up to 8 output pixels of one output row x the
// 8 output channels of one packed panel: 16 q accumulators), whose rows of "A" are read where they
// lie in the input. For each tile a table holds, per kernel tap and pixel, a pointer to the tap's
// cin input floats, or to a row of zeros when the tap falls into the padding (XNNPACK's
// indirection idea), so border pixels share tiles with interior ones; taps outside for the
// whole tile (top and bottom rows) are left out. The table is filled once per tile and used for
// every panel of output channels. Inside a tap four k steps go at once (one 128-bit load per
// pixel, fmla by lane), as in gemm_neon.cpp. When the input is packed (channel stride == cin)
// and has few channels (the 1- and 3-channel network input) an interior pixel's kernel row is
// one run of 3*cin floats and its tiles use those runs; its border pixels go one at a time, tap
// by tap (part of a run would be outside). Weights: the pack_conv2d layout, rows (ky, kx, ci), panels of
// kNeonGemmNr channels, as the im2col path uses.
#include <arm_neon.h>

#include <algorithm>
#include <cstddef>

#include "framework/kernels/arm/neon_kernels.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

namespace {

constexpr int NR = kNeonGemmNr;
static_assert(NR == 8, "the tile below holds 8 channels in two q registers");
constexpr int kMaxRows = 8;  // output pixels per tile: 16 accumulators + 8 input vectors + 2 weight vectors

// The input rows a tile reads, one pointer per (segment, pixel): a tap outside the image points
// at zeros, so border pixels share a tile with interior ones.
struct Segments {
  int n = 0;
  int len = 0;                // floats per segment
  int b_row[9];               // row of the packed weights where segment s starts
  const float* a[9][kMaxRows];  // segment s of the tile's pixel r
};

// A segment that falls outside the image for some pixel of a tile reads these instead.
constexpr int kZeroFloats = 2048;
alignas(16) const float kZeros[kZeroFloats] = {};

// Stores the first n (0..4) lanes of v.
inline void store_lanes(float* p, float32x4_t v, int n) {
  if (n >= 4) {
    vst1q_f32(p, v);
    return;
  }
  if (n > 0) vst1q_lane_f32(p, v, 0);
  if (n > 1) vst1q_lane_f32(p + 1, v, 1);
  if (n > 2) vst1q_lane_f32(p + 2, v, 2);
}

// HALF: a panel with at most 4 real channels (the last one of 12, 20, ... or a 4-channel layer
// that pruning left): only the first 4 lanes are computed, half the FMAs of a full panel.
template <int ROWS, bool HALF>
void conv_tile(const Segments& sg, const float* b, const float* bias, float* c, size_t ldc, int cols, float32x4_t vmin,
               float32x4_t vmax) {
  float32x4_t acc0[ROWS], acc1[ROWS];
  const float32x4_t bias0 = vld1q_f32(bias), bias1 = vld1q_f32(bias + 4);
  TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) acc0[r] = bias0, acc1[r] = HALF ? bias0 : bias1;
  for (int s = 0; s < sg.n; ++s) {
    const float* ar[ROWS];
    TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) ar[r] = sg.a[s][r];
    const float* bs = b + static_cast<size_t>(sg.b_row[s]) * NR;
    int j = 0;
    for (; j + 4 <= sg.len; j += 4) {
      float32x4_t av[ROWS];
      TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) av[r] = vld1q_f32(ar[r] + j);
#define TRIM_NEON_KSTEP(L)                                       \
  {                                                              \
    const float32x4_t b0 = vld1q_f32(bs);                        \
    const float32x4_t b1 = HALF ? b0 : vld1q_f32(bs + 4);         \
    bs += NR;                                                    \
    TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) {       \
      acc0[r] = vfmaq_laneq_f32(acc0[r], b0, av[r], L);          \
      if (!HALF) acc1[r] = vfmaq_laneq_f32(acc1[r], b1, av[r], L); \
    }                                                            \
  }
      TRIM_NEON_KSTEP(0)
      TRIM_NEON_KSTEP(1)
      TRIM_NEON_KSTEP(2)
      TRIM_NEON_KSTEP(3)
#undef TRIM_NEON_KSTEP
    }
    for (; j < sg.len; ++j) {
      const float32x4_t b0 = vld1q_f32(bs);
      const float32x4_t b1 = HALF ? b0 : vld1q_f32(bs + 4);
      bs += NR;
      TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) {
        const float32x4_t av = vld1q_dup_f32(ar[r] + j);
        acc0[r] = vfmaq_f32(acc0[r], b0, av);
        if (!HALF) acc1[r] = vfmaq_f32(acc1[r], b1, av);
      }
    }
  }
  TRIM_NEON_UNROLL_ROWS for (int r = 0; r < ROWS; ++r) {
    const float32x4_t v0 = vminq_f32(vmaxq_f32(acc0[r], vmin), vmax);
    if (HALF) {
      store_lanes(c + r * ldc, v0, cols);
      continue;
    }
    const float32x4_t v1 = vminq_f32(vmaxq_f32(acc1[r], vmin), vmax);
    if (cols == NR) {
      vst1q_f32(c + r * ldc, v0);
      vst1q_f32(c + r * ldc + 4, v1);
    } else {
      store_lanes(c + r * ldc, v0, cols);
      store_lanes(c + r * ldc + 4, v1, cols - 4);
    }
  }
}

using TileFn = void (*)(const Segments&, const float*, const float*, float*, size_t, int, float32x4_t, float32x4_t);

template <bool HALF>
TileFn tile_for(int rows) {
  switch (rows) {
    case 1: return conv_tile<1, HALF>;
    case 2: return conv_tile<2, HALF>;
    case 3: return conv_tile<3, HALF>;
    case 4: return conv_tile<4, HALF>;
    case 5: return conv_tile<5, HALF>;
    case 6: return conv_tile<6, HALF>;
    case 7: return conv_tile<7, HALF>;
    default: return conv_tile<8, HALF>;
  }
}

}  // namespace

void f32_conv3x3__neon(const float* in, int ih, int iw, size_t in_cs, int cin, float* out, int ow, size_t out_cs,
                       int cout, int stride, int pad, int p0, int p1, const float* packed_w, const float* bias,
                       float vmin, float vmax) {
  const float32x4_t vlo = vdupq_n_f32(vmin), vhi = vdupq_n_f32(vmax);
  // Packed input (channel stride == cin): a kernel row of an interior pixel is one run of 3*cin.
  // That matters for few channels (the 1- and 3-channel network input: taps of 1 or 3 floats
  // would be all overhead), so there interior pixels use runs and border pixels, which cannot
  // share a run (part of it is outside), go one at a time tap by tap. From 8 channels on taps
  // are long enough, and whole rows go through the zero-row tiles; so does everything else
  // unless cin is wider than the zero row (then borders one at a time again).
  const bool runs = in_cs == static_cast<size_t>(cin) && cin < 8;
  const bool zero_row = !runs && cin <= kZeroFloats;
  const size_t k = 9 * static_cast<size_t>(cin);
  const size_t row_stride = static_cast<size_t>(iw) * in_cs;
  const int panels = (cout + NR - 1) / NR;
  // Interior columns: all three input columns inside the image.
  const int ox_lo = std::min(ow, (pad + stride - 1) / stride);
  int ox_hi = iw - 3 + pad >= 0 ? (iw - 3 + pad) / stride + 1 : 0;
  ox_hi = std::max(ox_lo, std::min(ow, ox_hi));

  // Pixels [ox0, ox0 + rows) of output row oy, all channels: fills the tile's segments once and
  // runs every panel over them (the tile's inputs stay in L1 across panels).
  auto tile = [&](int oy, int ox0, int rows, bool per_tap) {
    const int iy0 = oy * stride - pad;
    const int ky_lo = std::max(0, -iy0), ky_hi = std::min(3, ih - iy0);
    Segments sg;
    sg.len = per_tap ? cin : 3 * cin;
    const ptrdiff_t step = static_cast<ptrdiff_t>(stride) * static_cast<ptrdiff_t>(in_cs);
    for (int ky = ky_lo; ky < ky_hi; ++ky) {
      const float* irow = in + static_cast<size_t>(iy0 + ky) * row_stride;
      for (int kx = 0; kx < (per_tap ? 3 : 1); ++kx) {
        // Pixels r in [r_lo, r_hi) read inside the image; only a tile at the left or right edge
        // has any outside (then at its first or last pixel).
        const int ix0 = ox0 * stride - pad + kx;
        int r_lo = 0, r_hi = rows;
        if (per_tap) {
          while (r_lo < rows && ix0 + r_lo * stride < 0) ++r_lo;
          while (r_hi > r_lo && ix0 + (r_hi - 1) * stride >= iw) --r_hi;
          if (r_lo == r_hi) continue;  // outside for every pixel of the tile: left out
        }
        const float** a = sg.a[sg.n];
        const float* first = irow + (static_cast<ptrdiff_t>(ix0) + static_cast<ptrdiff_t>(r_lo) * stride) * static_cast<ptrdiff_t>(in_cs);
        for (int r = 0; r < r_lo; ++r) a[r] = kZeros;
        for (int r = r_lo; r < r_hi; ++r) a[r] = first + (r - r_lo) * step;
        for (int r = r_hi; r < rows; ++r) a[r] = kZeros;
        sg.b_row[sg.n] = (ky * 3 + kx) * cin;
        ++sg.n;
      }
    }
    const TileFn full = tile_for<false>(rows), half = tile_for<true>(rows);
    float* o = out + static_cast<size_t>(oy * ow + ox0 - p0) * out_cs;  // out points at pixel p0
    for (int pn = 0; pn < panels; ++pn) {
      const int cols = std::min(NR, cout - pn * NR);
      (cols <= 4 ? half : full)(sg, packed_w + static_cast<size_t>(pn) * k * NR, bias + pn * NR, o + pn * NR, out_cs, cols,
                                vlo, vhi);
    }
  };
  // Splits [lo, hi) of row oy into balanced tiles of at most kMaxRows pixels.
  auto span = [&](int oy, int lo, int hi, bool per_tap) {
    if (hi <= lo) return;
    const int n = hi - lo, blocks = (n + kMaxRows - 1) / kMaxRows, base = n / blocks, extra = n % blocks;
    for (int bl = 0, ox = lo; bl < blocks; ++bl) {
      const int rows = base + (bl < extra ? 1 : 0);
      tile(oy, ox, rows, per_tap);
      ox += rows;
    }
  };

  for (int p = p0; p < p1;) {
    const int oy = p / ow, ox_begin = p % ow;
    const int ox_end = std::min(ow, ox_begin + (p1 - p));
    if (zero_row) {
      span(oy, ox_begin, ox_end, true);
    } else {
      const int lo = std::max(ox_begin, ox_lo), hi = std::min(ox_end, ox_hi);
      for (int ox = ox_begin; ox < std::min(ox_end, lo); ++ox) tile(oy, ox, 1, true);
      span(oy, lo, hi, !runs);
      for (int ox = std::max(std::max(ox_begin, lo), hi); ox < ox_end; ++ox) tile(oy, ox, 1, true);
    }
    p += ox_end - ox_begin;
  }
}

}  // namespace kernels
}  // namespace trim
