// dwconv3x3_simd.h - the depthwise 3x3 algorithm shared by x86/dwconv_avx2.cpp,
// x86/dwconv_avx512.cpp and arm/dwconv_neon.cpp; each includes it after defining a vector
// traits struct V for its ISA (register type, lane count, masked load/store, fma, min/max), so
// one algorithm is compiled once per ISA with that file's own flags.
//
// NHWC, one output row and one block of V::kLanes channels at a time: the nine taps and the
// bias stay in registers while the row is swept. Rows falling into the zero padding read a
// small zero buffer with a column stride of 0, so the top and bottom rows take the same fast
// path as the middle ones; only the border columns (at most two per side) select a zero
// pointer per tap. Interior pixels go four at a time and share the input vectors neighbouring
// outputs read (stride 1: 6 columns feed 4 outputs; stride 2: 9 columns). The channel tail is a
// masked load / store, so any channel count and channel stride work.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {
namespace simd_detail {

template <class V, int S>
void dwconv3x3(const float* in, int ih, int iw, size_t in_cs, float* out, int ow, size_t out_cs, int oy0, int oy1,
               int channels, const float* w, const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  using R = typename V::reg;
  alignas(64) static const float zeros[16] = {0.f};
  const size_t wcs = round_up(static_cast<size_t>(channels), kWeightAlign);
  const R vlo = V::set1(vmin), vhi = V::set1(vmax);
  // Output columns whose three input columns all lie inside the image.
  const int ox_lo = std::min(ow, (pad_left + S - 1) / S);
  int ox_hi = iw - 3 + pad_left >= 0 ? (iw - 3 + pad_left) / S + 1 : 0;
  ox_hi = std::max(ox_lo, std::min(ow, ox_hi));
  const size_t row_stride = static_cast<size_t>(iw) * in_cs;
  // Output columns per strip: ~V::kStripBytes of each input row, at most V::kStripPixels input
  // columns (x86: 4 KB, 16), at least one block of 4 outputs. Measured on the MobileNet maps with AVX-512: 2-4 KB
  // strips beat whole rows by 15-30% on the 112x112 and 56x56 layers (prefetching the next rows
  // by hand made things slower). NEON uses whole rows: per strip the taps are reloaded, which
  // cost 0.2 instructions per MAC there (measured under qemu), and a timing on an Arm board is
  // still to be done.
  const int strip_px = std::min(V::kStripPixels, static_cast<int>(std::min<size_t>(V::kStripBytes / (in_cs * sizeof(float)), 1 << 20)));
  const int kStrip = std::max(4, strip_px / S);

  for (int oy = oy0; oy < oy1; ++oy) {
    const int iy0 = oy * S - pad_top;
    // Per kernel row: where input column 0 of this block starts, and the column stride (0 for
    // a row in the padding: every column then reads the zero buffer).
    const float* row[3];
    size_t cstr[3];
    bool row_ok[3];
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = iy0 + ky;
      row_ok[ky] = iy >= 0 && iy < ih;
      row[ky] = row_ok[ky] ? in + static_cast<size_t>(iy) * row_stride : zeros;
      cstr[ky] = row_ok[ky] ? in_cs : 0;
    }
    float* orow = out + static_cast<size_t>(oy) * ow * out_cs;
    // The row goes in strips: every channel block of a strip reads the same few cache lines per
    // pixel, which then stay in L1 for the next block (a whole row of a 112-wide, 64-channel map
    // would not).
    for (int xs = 0; xs < ow; xs += kStrip) {
    const int xe = std::min(ow, xs + kStrip);
    const int lo = std::max(xs, std::min(xe, ox_lo)), hi = std::max(lo, std::min(xe, ox_hi));
    // One channel block; FULL (all V::kLanes channels real) compiles without masks, which NEON
    // has no cheap form of. Only the last block of an odd channel count is not FULL.
    auto block = [&](auto full, int c) {
      constexpr bool FULL = decltype(full)::value;
      const typename V::mask m = V::mask_for(channels - c);
      auto ld = [&](const float* p) {
        if constexpr (FULL) return V::load(p);
        else return V::load(p, m);
      };
      auto st = [&](float* p, R v) {
        if constexpr (FULL) V::store(p, v);
        else V::store(p, m, v);
      };
      R k[9];
      for (int t = 0; t < 9; ++t) k[t] = V::load(w + t * wcs + c);
      const R b = V::load(bias + c);
      const float* r[3];
      for (int ky = 0; ky < 3; ++ky) r[ky] = row[ky] + (row_ok[ky] ? c : 0);

      // One output pixel, any column: taps outside the image read zeros.
      auto pixel = [&](int ox) {
        const int ix0 = ox * S - pad_left;
        R acc = b;
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int ix = ix0 + kx;
            const float* p = ix >= 0 && ix < iw ? r[ky] + static_cast<ptrdiff_t>(ix) * static_cast<ptrdiff_t>(cstr[ky]) : zeros;
            acc = V::fmadd(ld(p), k[ky * 3 + kx], acc);
          }
        st(orow + static_cast<size_t>(ox) * out_cs + c, V::min(V::max(acc, vlo), vhi));
      };

      for (int ox = xs; ox < lo; ++ox) pixel(ox);
      int ox = lo;
      for (; ox + 4 <= hi; ox += 4) {
        const size_t ix0 = static_cast<size_t>(ox * S - pad_left);
        R a0 = b, a1 = b, a2 = b, a3 = b;
        for (int ky = 0; ky < 3; ++ky) {
          const float* p = r[ky] + ix0 * cstr[ky];
          const size_t stride = cstr[ky];
          constexpr int NI = 3 * S + 3;  // input columns read by 4 outputs
          R v[NI];
          for (int j = 0; j < NI; ++j) v[j] = ld(p + j * stride);
          for (int kx = 0; kx < 3; ++kx) {
            const R kk = k[ky * 3 + kx];
            a0 = V::fmadd(v[0 * S + kx], kk, a0);
            a1 = V::fmadd(v[1 * S + kx], kk, a1);
            a2 = V::fmadd(v[2 * S + kx], kk, a2);
            a3 = V::fmadd(v[3 * S + kx], kk, a3);
          }
        }
        float* o = orow + static_cast<size_t>(ox) * out_cs + c;
        st(o, V::min(V::max(a0, vlo), vhi));
        st(o + out_cs, V::min(V::max(a1, vlo), vhi));
        st(o + 2 * out_cs, V::min(V::max(a2, vlo), vhi));
        st(o + 3 * out_cs, V::min(V::max(a3, vlo), vhi));
      }
      for (; ox < hi; ++ox) {
        const size_t ix0 = static_cast<size_t>(ox * S - pad_left);
        R acc = b;
        for (int ky = 0; ky < 3; ++ky) {
          const float* p = r[ky] + ix0 * cstr[ky];
          for (int kx = 0; kx < 3; ++kx) acc = V::fmadd(ld(p + kx * cstr[ky]), k[ky * 3 + kx], acc);
        }
        st(orow + static_cast<size_t>(ox) * out_cs + c, V::min(V::max(acc, vlo), vhi));
      }
      for (ox = hi; ox < xe; ++ox) pixel(ox);
    };
    int c = 0;
    for (; c + V::kLanes <= channels; c += V::kLanes) block(std::true_type{}, c);
    if (c < channels) block(std::false_type{}, c);
    }
  }
}

}  // namespace simd_detail
}  // namespace kernels
}  // namespace trim
