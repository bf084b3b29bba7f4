// dwconv_neon.cpp - f32_dwconv3x3_s1__neon and f32_dwconv3x3_s2__neon: depthwise 3x3 on NHWC
// activations, 4 channels per q register, bias + clamp fused. The algorithm is the one the x86
// kernels use (dwconv3x3_simd.h); NEON has no masked loads, so a partial channel block (fewer
// than 4 channels left) goes through a small stack buffer. Full blocks never do.
#include <arm_neon.h>

#include "framework/kernels/arm/neon_kernels.h"
#include "framework/kernels/dwconv3x3_simd.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

namespace {
struct Neon {
  using reg = float32x4_t;
  struct mask {
    int left;  // lanes to touch: 4 for a full block
  };
  static constexpr int kTileLines = 1 << 30;  // input lines (pixels of one block) a tile may read
  static constexpr int kTileRowsMax = 1;
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
}  // namespace

void f32_dwconv3x3_s1__neon(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  simd_detail::dwconv3x3<Neon, 1>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left,
                                  vmin, vmax);
}

void f32_dwconv3x3_s2__neon(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  simd_detail::dwconv3x3<Neon, 2>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left,
                                  vmin, vmax);
}

}  // namespace kernels
}  // namespace trim
