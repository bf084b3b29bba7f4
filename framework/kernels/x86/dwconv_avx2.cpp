// dwconv_avx2.cpp - f32_dwconv3x3_s1__avx2 and f32_dwconv3x3_s2__avx2: depthwise 3x3 on NHWC
// activations, 8 channels per ymm, bias + clamp fused. The algorithm is in dwconv3x3_simd.h;
// this file supplies the AVX2 vector operations. vmaskmov costs extra uops, so only a partial
// channel block (the tail) uses it.
#include <immintrin.h>

#include "framework/kernels/kernels.h"
#include "framework/kernels/dwconv3x3_simd.h"
#include "framework/kernels/x86/vec_avx2.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

namespace {
// The depthwise tiling on top of the vector operations (dwconv3x3_simd.h).
struct Avx2 : simd_detail::Avx2Vec {
  static constexpr int kTileLines = 384;  // input lines (pixels of one block) a tile may read
  static constexpr int kTileRowsMax = 32;
};
}  // namespace

void f32_dwconv3x3_s1__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  simd_detail::dwconv3x3<Avx2, 1>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left,
                                 vmin, vmax);
}

void f32_dwconv3x3_s2__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  simd_detail::dwconv3x3<Avx2, 2>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left,
                                 vmin, vmax);
}

}  // namespace kernels
}  // namespace trim
