// pool_avx512.cpp - f32_global_avgpool__avx512 (channel vectors summed over the pixels) and
// f32_maxpool2d_nhwc__avx512 (maxpool_simd.h), NHWC.
#include <immintrin.h>

// GCC 12's _mm512_min_ps/_mm512_max_ps start from _mm512_undefined_ps() and then warn that it
// may be used uninitialized: a false positive in the intrinsic headers, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "framework/kernels/kernels.h"
#include "framework/kernels/maxpool_simd.h"
#include "framework/kernels/x86/vec_avx512.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

void f32_global_avgpool__avx512(const float* in, int pixels, size_t in_cs, int channels, float* out) {
  const __m512 scale = _mm512_set1_ps(1.f / static_cast<float>(pixels));
  for (int c = 0; c < channels; c += 16) {
    const int left = channels - c;
    const __mmask16 m = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    // Two partial sums halve the add chain's latency on the 7x7 = 49 pixel maps.
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    const float* p = in + c;
    int i = 0;
    for (; i + 2 <= pixels; i += 2, p += 2 * in_cs) {
      s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m, p));
      s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(m, p + in_cs));
    }
    if (i < pixels) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m, p));
    _mm512_mask_storeu_ps(out + c, m, _mm512_mul_ps(_mm512_add_ps(s0, s1), scale));
  }
}

void f32_maxpool2d_nhwc__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow,
                                size_t out_cs, int channels, int kernel, int stride, int pad) {
  simd_detail::maxpool2d<simd_detail::Avx512Vec>(in, ih, iw, in_cs, out, oh, ow, out_cs, channels, kernel, stride, pad);
}

}  // namespace kernels
}  // namespace trim
