// dwconv_avx2.cpp - f32_dwconv3x3_s1__avx2 and f32_dwconv3x3_s2__avx2: depthwise 3x3 on NHWC
// activations, 8 channels per ymm, bias + clamp fused. The algorithm is in dwconv3x3_simd.h;
// this file supplies the AVX2 vector operations. vmaskmov costs extra uops, so only a partial
// channel block (the tail) uses it.
#include <immintrin.h>

#include "framework/kernels/kernels.h"
#include "framework/kernels/dwconv3x3_simd.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

namespace {
struct Avx2 {
  using reg = __m256;
  struct mask {
    __m256i m;
    bool full;
  };
  static constexpr int kTileLines = 384;  // input lines (pixels of one block) a tile may read
  static constexpr int kTileRowsMax = 32;
  static constexpr int kLanes = 8;
  static mask mask_for(int left) {
    return {_mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), left >= 8};
  }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg load(const float* p, const mask& m) { return m.full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.m); }
  static void store(float* p, const mask& m, reg v) {
    if (m.full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m.m, v);
  }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
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
