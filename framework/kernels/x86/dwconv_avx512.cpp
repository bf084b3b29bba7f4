// dwconv_avx512.cpp - f32_dwconv3x3_s1__avx512 and f32_dwconv3x3_s2__avx512: depthwise 3x3
// on NHWC activations, 16 channels per zmm, bias + clamp fused. The algorithm is in
// dwconv3x3_simd.h; this file supplies the AVX-512 vector operations (masks are free here, so
// the channel tail costs nothing extra).
#include <immintrin.h>

// GCC 12's _mm512_min_ps/_mm512_max_ps start from _mm512_undefined_ps() and then warn that it
// may be used uninitialized: a false positive in the intrinsic headers, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "framework/kernels/kernels.h"
#include "framework/kernels/dwconv3x3_simd.h"
#include "framework/kernels/x86/vec_avx512.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

namespace {
// The depthwise tiling on top of the vector operations (dwconv3x3_simd.h).
struct Avx512 : simd_detail::Avx512Vec {
  static constexpr int kTileLines = 384;  // input lines (pixels of one block) a tile may read
  static constexpr int kTileRowsMax = 32;
};
}  // namespace

void f32_dwconv3x3_s1__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  simd_detail::dwconv3x3<Avx512, 1>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left,
                                   vmin, vmax);
}

void f32_dwconv3x3_s2__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  simd_detail::dwconv3x3<Avx512, 2>(in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left,
                                   vmin, vmax);
}

}  // namespace kernels
}  // namespace trim
