// pool_neon.cpp - f32_global_avgpool__neon (channel vectors summed over the pixels; the channel
// tail (< 4) in scalar code) and f32_maxpool2d_nhwc__neon (maxpool_simd.h), NHWC.
#include <arm_neon.h>

#include "framework/kernels/arm/neon_kernels.h"
#include "framework/kernels/kernels.h"
#include "framework/kernels/maxpool_simd.h"
#include "framework/kernels/arm/vec_neon.h"

namespace trim {
namespace kernels {

void f32_global_avgpool__neon(const float* in, int pixels, size_t in_cs, int channels, float* out) {
  const float inv = 1.f / static_cast<float>(pixels);
  int c = 0;
  for (; c + 4 <= channels; c += 4) {
    float32x4_t s0 = vdupq_n_f32(0.f), s1 = s0;
    const float* p = in + c;
    int i = 0;
    for (; i + 2 <= pixels; i += 2, p += 2 * in_cs) {
      s0 = vaddq_f32(s0, vld1q_f32(p));
      s1 = vaddq_f32(s1, vld1q_f32(p + in_cs));
    }
    if (i < pixels) s0 = vaddq_f32(s0, vld1q_f32(p));
    vst1q_f32(out + c, vmulq_n_f32(vaddq_f32(s0, s1), inv));
  }
  for (; c < channels; ++c) {
    float s = 0.f;
    for (int i = 0; i < pixels; ++i) s += in[static_cast<size_t>(i) * in_cs + c];
    out[c] = s * inv;
  }
}

void f32_maxpool2d_nhwc__neon(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow,
                              size_t out_cs, int channels, int kernel, int stride, int pad) {
  simd_detail::maxpool2d<simd_detail::NeonVec>(in, ih, iw, in_cs, out, oh, ow, out_cs, channels, kernel, stride, pad);
}

}  // namespace kernels
}  // namespace trim
