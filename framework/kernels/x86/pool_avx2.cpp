// pool_avx2.cpp - f32_global_avgpool__avx2 (channel vectors summed over the pixels; the channel
// tail (< 8) in scalar code) and f32_maxpool2d_nhwc__avx2 (maxpool_simd.h), NHWC.
#include <immintrin.h>

#include "framework/kernels/kernels.h"
#include "framework/kernels/maxpool_simd.h"
#include "framework/kernels/x86/vec_avx2.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

void f32_global_avgpool__avx2(const float* in, int pixels, size_t in_cs, int channels, float* out) {
  const float inv = 1.f / static_cast<float>(pixels);
  const __m256 scale = _mm256_set1_ps(inv);
  int c = 0;
  for (; c + 8 <= channels; c += 8) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    const float* p = in + c;
    int i = 0;
    for (; i + 2 <= pixels; i += 2, p += 2 * in_cs) {
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p + in_cs));
    }
    if (i < pixels) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p));
    _mm256_storeu_ps(out + c, _mm256_mul_ps(_mm256_add_ps(s0, s1), scale));
  }
  for (; c < channels; ++c) {
    float s = 0.f;
    for (int i = 0; i < pixels; ++i) s += in[static_cast<size_t>(i) * in_cs + c];
    out[c] = s * inv;
  }
}

void f32_maxpool2d_nhwc__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow,
                              size_t out_cs, int channels, int kernel, int stride, int pad) {
  simd_detail::maxpool2d<simd_detail::Avx2Vec>(in, ih, iw, in_cs, out, oh, ow, out_cs, channels, kernel, stride, pad);
}

}  // namespace kernels
}  // namespace trim
