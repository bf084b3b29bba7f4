// pool_avx2.cpp - f32_global_avgpool__avx2: channel vectors summed over the pixels, NHWC; the
// channel tail (< 8) is summed in scalar code.
#include <immintrin.h>

#include "framework/kernels/kernels.h"
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

}  // namespace kernels
}  // namespace trim
