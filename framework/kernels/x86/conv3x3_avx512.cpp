// conv3x3_avx512.cpp - f32_conv3x3__avx512: standard 3x3 convolution (groups = 1) straight from
// the NHWC input, no im2col: the MobileNet RGB stem and every SICK-Net conv.
//
// The register tile is the GEMM's (12 pixels x 32 output channels, or 6 x 64 when there are
// more than 32 and the reduction is short), but the rows of "A" are read where they lie: for an
// output pixel the inputs of one kernel row are 3*cin consecutive floats when the input is
// packed (channel stride == cin, as the 3-channel network input is), else each of the 9 taps is
// cin consecutive floats. Those runs are "segments"; a tile walks its segments, and neighbouring
// pixels of a tile sit stride*channel_stride floats apart. Taps that fall into the zero padding
// are simply segments that are left out (top and bottom rows for the whole tile, left and right
// border pixels one at a time), so no zero buffer and no copy is needed. Weights are the
// pack_conv2d layout (rows in (ky, kx, ci) order, panels of 32 channels).
#include <immintrin.h>

// GCC 12's _mm512_min_ps/_mm512_max_ps start from _mm512_undefined_ps() and then warn that it
// may be used uninitialized: a false positive in the intrinsic headers, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cstddef>

#include "framework/kernels/kernels.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

namespace {

constexpr int NR = kAvx512GemmNr;

struct Segments {
  int n = 0;
  ptrdiff_t a_off[9];  // offset of the segment's first float from the tile's first pixel base
  int b_row[9];        // row of the packed weights where the segment starts
  int len = 0;         // floats per segment
};

template <int ROWS, int NV>
void conv_tile(const float* in, ptrdiff_t base, size_t pix_stride, const Segments& sg, const float* b, const float* b2,
               const float* bias, float* c, size_t ldc, __m512 vmin, __m512 vmax, const __mmask16* m) {
  __m512 acc[ROWS][NV];
  for (int v = 0; v < NV; ++v) {
    const __m512 bv = _mm512_loadu_ps(bias + 16 * v);
    for (int r = 0; r < ROWS; ++r) acc[r][v] = bv;
  }
  for (int s = 0; s < sg.n; ++s) {
    const float* a = in + (base + sg.a_off[s]);
    const float* bs = b + static_cast<size_t>(sg.b_row[s]) * NR;
    const float* bs2 = b2 + static_cast<size_t>(sg.b_row[s]) * NR;
    for (int j = 0; j < sg.len; ++j, bs += NR, bs2 += NR) {
      __m512 bv[NV];
      bv[0] = _mm512_loadu_ps(bs);
      if (NV > 1) bv[1] = _mm512_loadu_ps(bs + 16);
      if (NV > 2) bv[2] = _mm512_loadu_ps(bs2);
      if (NV > 3) bv[3] = _mm512_loadu_ps(bs2 + 16);
      for (int r = 0; r < ROWS; ++r) {
        const __m512 av = _mm512_set1_ps(a[r * pix_stride + j]);
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
      }
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, m[v], _mm512_min_ps(_mm512_max_ps(acc[r][v], vmin), vmax));
}

using TileFn = void (*)(const float*, ptrdiff_t, size_t, const Segments&, const float*, const float*, const float*,
                        float*, size_t, __m512, __m512, const __mmask16*);

template <int NV>
TileFn tile_for(int rows) {
  switch (rows) {
    case 1: return conv_tile<1, NV>;
    case 2: return conv_tile<2, NV>;
    case 3: return conv_tile<3, NV>;
    case 4: return conv_tile<4, NV>;
    case 5: return conv_tile<5, NV>;
    case 6: return conv_tile<6, NV>;
    case 7: return NV > 2 ? conv_tile<6, NV> : conv_tile<7, NV>;
    case 8: return NV > 2 ? conv_tile<6, NV> : conv_tile<8, NV>;
    case 9: return NV > 2 ? conv_tile<6, NV> : conv_tile<9, NV>;
    case 10: return NV > 2 ? conv_tile<6, NV> : conv_tile<10, NV>;
    case 11: return NV > 2 ? conv_tile<6, NV> : conv_tile<11, NV>;
    default: return NV > 2 ? conv_tile<6, NV> : conv_tile<12, NV>;
  }
}

TileFn tile_for(int rows, int nv) {
  switch (nv) {
    case 1: return tile_for<1>(rows);
    case 2: return tile_for<2>(rows);
    case 3: return tile_for<3>(rows);
    default: return tile_for<4>(rows);
  }
}

inline __mmask16 lanes(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1);
}

}  // namespace

void f32_conv3x3__avx512(const float* in, int ih, int iw, size_t in_cs, int cin, float* out, int ow, size_t out_cs,
                         int cout, int stride, int pad, int p0, int p1, const float* packed_w, const float* bias,
                         float vmin, float vmax) {
  const __m512 vlo = _mm512_set1_ps(vmin), vhi = _mm512_set1_ps(vmax);
  const bool packed = in_cs == static_cast<size_t>(cin);
  const size_t k = 9 * static_cast<size_t>(cin);
  const ptrdiff_t row_stride = static_cast<ptrdiff_t>(iw) * static_cast<ptrdiff_t>(in_cs);
  const size_t pix_stride = static_cast<size_t>(stride) * in_cs;
  const int panels = (cout + NR - 1) / NR;
  // The 6x64 tile over two panels pays off when the reduction (9 * cin) is short.
  const int group = k <= 288 ? 2 : 1;
  // Interior columns: all three input columns inside the image.
  const int ox_lo = std::min(ow, (pad + stride - 1) / stride);
  int ox_hi = iw - 3 + pad >= 0 ? (iw - 3 + pad) / stride + 1 : 0;
  ox_hi = std::max(ox_lo, std::min(ow, ox_hi));

  for (int p = p0; p < p1;) {
    const int oy = p / ow, ox_begin = p % ow;
    const int ox_end = std::min(ow, ox_begin + (p1 - p));
    const int iy0 = oy * stride - pad;
    const int ky_lo = std::max(0, -iy0), ky_hi = std::min(3, ih - iy0);
    // Segments of a pixel whose three columns are inside: per valid kernel row one run of
    // 3*cin (packed input) or three runs of cin.
    Segments inner;
    if (packed) {
      inner.len = 3 * cin;
      for (int ky = ky_lo; ky < ky_hi; ++ky, ++inner.n) {
        inner.a_off[inner.n] = ky * row_stride;
        inner.b_row[inner.n] = ky * 3 * cin;
      }
    } else {
      inner.len = cin;
      for (int ky = ky_lo; ky < ky_hi; ++ky)
        for (int kx = 0; kx < 3; ++kx, ++inner.n) {
          inner.a_off[inner.n] = ky * row_stride + kx * static_cast<ptrdiff_t>(in_cs);
          inner.b_row[inner.n] = (ky * 3 + kx) * cin;
        }
    }
    for (int pn = 0; pn < panels; pn += group) {
      const int cols = std::min(group * NR, cout - pn * NR);
      const int nv = (cols + 15) / 16;
      const __mmask16 masks[4] = {lanes(cols), lanes(cols - 16), lanes(cols - 32), lanes(cols - 48)};
      const float* b = packed_w + static_cast<size_t>(pn) * k * NR;
      const float* b2 = b + k * NR;
      const float* bi = bias + pn * NR;
      auto pixel_base = [&](int ox) {
        return static_cast<ptrdiff_t>(iy0) * row_stride + static_cast<ptrdiff_t>(ox * stride - pad) * static_cast<ptrdiff_t>(in_cs);
      };
      // A border pixel: only its taps inside the image, one segment of cin each.
      auto border = [&](int ox) {
        Segments sg;
        sg.len = cin;
        const int ix0 = ox * stride - pad;
        for (int ky = ky_lo; ky < ky_hi; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            if (ix0 + kx < 0 || ix0 + kx >= iw) continue;
            sg.a_off[sg.n] = ky * row_stride + kx * static_cast<ptrdiff_t>(in_cs);
            sg.b_row[sg.n] = (ky * 3 + kx) * cin;
            ++sg.n;
          }
        tile_for(1, nv)(in, pixel_base(ox), pix_stride, sg, b, b2, bi, out + static_cast<size_t>(oy * ow + ox - p0) * out_cs + pn * NR,
                        out_cs, vlo, vhi, masks);
      };
      const int lo = std::max(ox_begin, ox_lo), hi = std::min(ox_end, ox_hi);
      for (int ox = ox_begin; ox < std::min(ox_end, lo); ++ox) border(ox);
      if (hi > lo) {
        const int rows_max = nv > 2 ? 6 : 12;
        const int span = hi - lo, blocks = (span + rows_max - 1) / rows_max, base = span / blocks, extra = span % blocks;
        int ox = lo;
        for (int bl = 0; bl < blocks; ++bl) {
          const int rows = base + (bl < extra ? 1 : 0);
          tile_for(rows, nv)(in, pixel_base(ox), pix_stride, inner, b, b2, bi,
                             out + static_cast<size_t>(oy * ow + ox - p0) * out_cs + pn * NR, out_cs, vlo, vhi, masks);
          ox += rows;
        }
      }
      for (int ox = std::max(std::max(ox_begin, lo), hi); ox < ox_end; ++ox) border(ox);
    }
    p += ox_end - ox_begin;
  }
}

}  // namespace kernels
}  // namespace trim
