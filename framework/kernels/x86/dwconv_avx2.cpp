// dwconv_avx2.cpp - f32_dwconv3x3_s1__avx2 and f32_dwconv3x3_s2__avx2: depthwise 3x3 on
// NHWC activations, 8 channels per ymm, bias + clamp fused. The AVX-512 kernel's scheme with
// half-width vectors; the channel tail uses vmaskmov loads and stores.
//
// For one output row and one block of 8 channels the nine taps and the bias sit in registers
// while the row is swept. Interior pixels (all nine inputs inside the image) go four at a time,
// sharing the input vectors that neighbouring outputs read (stride 1: 6 columns feed 4 outputs;
// stride 2: 9 columns). Border pixels and rows take a general path that skips the taps falling
// into the zero padding.
#include <immintrin.h>

#include <algorithm>

#include "framework/kernels/kernels.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

namespace {

inline __m256 clamp(__m256 v, __m256 lo, __m256 hi) { return _mm256_min_ps(_mm256_max_ps(v, lo), hi); }

template <int S>
void dwconv3x3(const float* in, int ih, int iw, size_t in_cs, float* out, int ow, size_t out_cs, int oy0,
               int oy1, int channels, const float* w, const float* bias, int pad_top, int pad_left,
               float vmin, float vmax) {
  const size_t wcs = round_up(static_cast<size_t>(channels), kWeightAlign);
  const __m256 vlo = _mm256_set1_ps(vmin), vhi = _mm256_set1_ps(vmax);
  // Output columns whose three input columns are all inside the image.
  int ox_lo = std::min(ow, (pad_left + S - 1) / S);
  int ox_hi = iw - 3 + pad_left >= 0 ? (iw - 3 + pad_left) / S + 1 : 0;
  ox_hi = std::max(ox_lo, std::min(ow, ox_hi));
  const size_t row_stride = static_cast<size_t>(iw) * in_cs;

  for (int oy = oy0; oy < oy1; ++oy) {
    const int iy0 = oy * S - pad_top;
    const int ky_lo = std::max(0, -iy0), ky_hi = std::min(3, ih - iy0);
    float* orow = out + static_cast<size_t>(oy) * ow * out_cs;
    for (int c = 0; c < channels; c += 8) {
      const int left = channels - c;
      const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      // vmaskmov costs extra uops: only the channel tail block pays for it.
      const bool full = left >= 8;
      auto load = [&](const float* p) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m); };
      auto store = [&](float* p, __m256 v) {
        if (full) _mm256_storeu_ps(p, v);
        else _mm256_maskstore_ps(p, m, v);
      };
      __m256 k[9];
      for (int t = 0; t < 9; ++t) k[t] = _mm256_loadu_ps(w + t * wcs + c);
      const __m256 b = _mm256_loadu_ps(bias + c);

      // General pixel: only the taps inside the image.
      auto border = [&](int ox) {
        __m256 acc = b;
        const int ix0 = ox * S - pad_left;
        for (int ky = ky_lo; ky < ky_hi; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= iw) continue;
            const float* p = in + static_cast<size_t>(iy0 + ky) * row_stride + static_cast<size_t>(ix) * in_cs + c;
            acc = _mm256_fmadd_ps(load(p), k[ky * 3 + kx], acc);
          }
        store(orow + static_cast<size_t>(ox) * out_cs + c, clamp(acc, vlo, vhi));
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
        __m256 a0 = b, a1 = b, a2 = b, a3 = b;
        const float* rows[3] = {r0, r1, r2};
        for (int ky = 0; ky < 3; ++ky) {
          const float* p = rows[ky] + ix0 * in_cs;
          constexpr int NI = 3 * S + 3;  // input columns read by 4 outputs: 6 (s1) or 9 (s2)
          __m256 v[NI];
          for (int j = 0; j < NI; ++j) v[j] = load(p + j * in_cs);
          for (int kx = 0; kx < 3; ++kx) {
            const __m256 kk = k[ky * 3 + kx];
            a0 = _mm256_fmadd_ps(v[0 * S + kx], kk, a0);
            a1 = _mm256_fmadd_ps(v[1 * S + kx], kk, a1);
            a2 = _mm256_fmadd_ps(v[2 * S + kx], kk, a2);
            a3 = _mm256_fmadd_ps(v[3 * S + kx], kk, a3);
          }
        }
        float* o = orow + static_cast<size_t>(ox) * out_cs + c;
        store(o, clamp(a0, vlo, vhi));
        store(o + out_cs, clamp(a1, vlo, vhi));
        store(o + 2 * out_cs, clamp(a2, vlo, vhi));
        store(o + 3 * out_cs, clamp(a3, vlo, vhi));
      }
      for (; ox < ox_hi; ++ox) {
        const size_t ix0 = static_cast<size_t>(ox * S - pad_left);
        __m256 acc = b;
        const float* rows[3] = {r0, r1, r2};
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx)
            acc = _mm256_fmadd_ps(load(rows[ky] + (ix0 + kx) * in_cs), k[ky * 3 + kx], acc);
        store(orow + static_cast<size_t>(ox) * out_cs + c, clamp(acc, vlo, vhi));
      }
      for (ox = ox_hi; ox < ow; ++ox) border(ox);
    }
  }
}

}  // namespace

void f32_dwconv3x3_s1__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  dwconv3x3<1>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left, vmin, vmax);
}

void f32_dwconv3x3_s2__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  dwconv3x3<2>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left, vmin, vmax);
}

}  // namespace kernels
}  // namespace trim
