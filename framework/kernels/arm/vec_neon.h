// vec_neon.h - vector operations for the SIMD algorithms shared across ISAs (dwconv3x3_simd.h,
// maxpool_simd.h): reg, mask, kLanes, mask_for, whole and masked load / store, set1, fmadd,
// min, max. NEON: 4 floats per q register; no masked loads, so a partial block goes through a
// small stack buffer.
// Include only from a file compiled with this ISA's flags.
#pragma once

#include <arm_neon.h>

namespace trim {
namespace kernels {
namespace simd_detail {

struct NeonVec {
  using reg = float32x4_t;
  struct mask {
    int left;  // lanes to touch: 4 for a full block
  };
  static constexpr int kLanes = 4;
  static mask mask_for(int left) { return {left < 4 ? left : 4}; }
  static reg load(const float* p) { return vld1q_f32(p); }
  static reg load(const float* p, mask m) {
    if (m.left == 4) return vld1q_f32(p);
    float t[4] = {0.f, 0.f, 0.f, 0.f};
    for (int i = 0; i < m.left; ++i) t[i] = p[i];
    return vld1q_f32(t);
  }
  static void store(float* p, mask m, reg v) {
    if (m.left == 4) {
      vst1q_f32(p, v);
      return;
    }
    float t[4];
    vst1q_f32(t, v);
    for (int i = 0; i < m.left; ++i) p[i] = t[i];
  }
  static void store(float* p, reg v) { vst1q_f32(p, v); }
  static reg set1(float v) { return vdupq_n_f32(v); }
  static reg fmadd(reg a, reg b, reg c) { return vfmaq_f32(c, a, b); }
  static reg min(reg a, reg b) { return vminq_f32(a, b); }
  static reg max(reg a, reg b) { return vmaxq_f32(a, b); }
};

}  // namespace simd_detail
}  // namespace kernels
}  // namespace trim
