// dwconv_neon.cpp - f32_dwconv3x3_s1__neon and f32_dwconv3x3_s2__neon: depthwise 3x3 on NHWC
// activations, 4 channels per q register, bias + clamp fused. The algorithm is the one the x86
// kernels use (dwconv3x3_simd.h); NEON has no masked loads, so a partial channel block (fewer
// than 4 channels left) goes through a small stack buffer. Full blocks never do.
#include <arm_neon.h>

#include "framework/kernels/arm/neon_kernels.h"
#include "framework/kernels/dwconv3x3_simd.h"
#include "framework/kernels/arm/vec_neon.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

namespace {
// The depthwise tiling on top of the vector operations (dwconv3x3_simd.h).
struct Neon : simd_detail::NeonVec {
  static constexpr int kTileLines = 1 << 30;  // input lines (pixels of one block) a tile may read
  static constexpr int kTileRowsMax = 1;
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
