// dwconv_avx512.cpp - f32_dwconv3x3_s1__avx512 and f32_dwconv3x3_s2__avx512: depthwise 3x3
// on NHWC activations, 16 channels per zmm, bias + clamp fused.
//
// For one output row and one block of 16 channels the nine taps and the bias sit in registers
// while the row is swept. Interior pixels (all nine inputs inside the image) go four at a time,
// sharing the input vectors that neighbouring outputs read (stride 1: 6 columns feed 4 outputs;
// stride 2: 9 columns). Border pixels and rows take a general path that skips the taps falling
// into the zero padding. The channel tail is a masked load / store, so any channel count works.
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

inline __m512 clamp(__m512 v, __m512 lo, __m512 hi) { return _mm512_min_ps(_mm512_max_ps(v, lo), hi); }

template <int S>
void dwconv3x3(const float* in, int ih, int iw, size_t in_cs, float* out, int ow, size_t out_cs, int oy0,
               int oy1, int channels, const float* w, const float* bias, int pad_top, int pad_left,
               float vmin, float vmax) {
  const size_t wcs = round_up(static_cast<size_t>(channels), kWeightAlign);
  const __m512 vlo = _mm512_set1_ps(vmin), vhi = _mm512_set1_ps(vmax);
  // Output columns whose three input columns are all inside the image.
  int ox_lo = std::min(ow, (pad_left + S - 1) / S);
  int ox_hi = iw - 3 + pad_left >= 0 ? (iw - 3 + pad_left) / S + 1 : 0;
  ox_hi = std::max(ox_lo, std::min(ow, ox_hi));
  const size_t row_stride = static_cast<size_t>(iw) * in_cs;

  for (int oy = oy0; oy < oy1; ++oy) {
    const int iy0 = oy * S - pad_top;
    const int ky_lo = std::max(0, -iy0), ky_hi = std::min(3, ih - iy0);
    float* orow = out + static_cast<size_t>(oy) * ow * out_cs;
    for (int c = 0; c < channels; c += 16) {
      const int left = channels - c;
      const __mmask16 m = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
      __m512 k[9];
      for (int t = 0; t < 9; ++t) k[t] = _mm512_loadu_ps(w + t * wcs + c);
      const __m512 b = _mm512_loadu_ps(bias + c);

      // General pixel: only the taps inside the image.
      auto border = [&](int ox) {
        __m512 acc = b;
        const int ix0 = ox * S - pad_left;
        for (int ky = ky_lo; ky < ky_hi; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= iw) continue;
            const float* p = in + static_cast<size_t>(iy0 + ky) * row_stride + static_cast<size_t>(ix) * in_cs + c;
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p), k[ky * 3 + kx], acc);
          }
        _mm512_mask_storeu_ps(orow + static_cast<size_t>(ox) * out_cs + c, m, clamp(acc, vlo, vhi));
      };

      if (ky_lo != 0 || ky_hi != 3) {  // a row touching the top or bottom padding
        for (int ox = 0; ox < ow; ++ox) border(ox);
        continue;
      }
      for (int ox = 0; ox < ox_lo; ++ox) border(ox);
      const float* r0 = in + static_cast<size_t>(iy0) * row_stride + c;
      const float* r1 = r0 + row_stride;
      const float* r2 = r1 + row_stride;
      int ox = ox_lo;
      for (; ox + 4 <= ox_hi; ox += 4) {
        const size_t ix0 = static_cast<size_t>(ox * S - pad_left);
        __m512 a0 = b, a1 = b, a2 = b, a3 = b;
        const float* rows[3] = {r0, r1, r2};
        for (int ky = 0; ky < 3; ++ky) {
          const float* p = rows[ky] + ix0 * in_cs;
          constexpr int NI = 3 * S + 3;  // input columns read by 4 outputs: 6 (s1) or 9 (s2)
          __m512 v[NI];
          for (int j = 0; j < NI; ++j) v[j] = _mm512_maskz_loadu_ps(m, p + j * in_cs);
          for (int kx = 0; kx < 3; ++kx) {
            const __m512 kk = k[ky * 3 + kx];
            a0 = _mm512_fmadd_ps(v[0 * S + kx], kk, a0);
            a1 = _mm512_fmadd_ps(v[1 * S + kx], kk, a1);
            a2 = _mm512_fmadd_ps(v[2 * S + kx], kk, a2);
            a3 = _mm512_fmadd_ps(v[3 * S + kx], kk, a3);
          }
        }
        float* o = orow + static_cast<size_t>(ox) * out_cs + c;
        _mm512_mask_storeu_ps(o, m, clamp(a0, vlo, vhi));
        _mm512_mask_storeu_ps(o + out_cs, m, clamp(a1, vlo, vhi));
        _mm512_mask_storeu_ps(o + 2 * out_cs, m, clamp(a2, vlo, vhi));
        _mm512_mask_storeu_ps(o + 3 * out_cs, m, clamp(a3, vlo, vhi));
      }
      for (; ox < ox_hi; ++ox) {
        const size_t ix0 = static_cast<size_t>(ox * S - pad_left);
        __m512 acc = b;
        const float* rows[3] = {r0, r1, r2};
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, rows[ky] + (ix0 + kx) * in_cs), k[ky * 3 + kx], acc);
        _mm512_mask_storeu_ps(orow + static_cast<size_t>(ox) * out_cs + c, m, clamp(acc, vlo, vhi));
      }
      for (ox = ox_hi; ox < ow; ++ox) border(ox);
    }
  }
}

}  // namespace

void f32_dwconv3x3_s1__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  dwconv3x3<1>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left, vmin, vmax);
}

void f32_dwconv3x3_s2__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  dwconv3x3<2>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left, vmin, vmax);
}

}  // namespace kernels
}  // namespace trim
