// x86_kernels.h - the x86 vector kernels (AVX2+FMA in *_avx2.cpp, AVX-512 in *_avx512.cpp, each
// file compiled with its own ISA flags). Signatures are those of kernels.h; dispatch.cpp only
// takes their addresses, so it needs no ISA flags itself.
#pragma once

#include <cstddef>

namespace trim {
namespace kernels {

// AVX-512F (+VL/BW/DQ): GEMM micro-tile up to 12 rows x 32 columns (2 zmm).
constexpr int kAvx512GemmMr = 12, kAvx512GemmNr = 32;
void f32_gemm__avx512(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                      const float* bias, float* c, size_t ldc, float vmin, float vmax);
void f32_fc__avx512(int n, int k, const float* x, const float* packed_b, const float* bias,
                    float* out, float vmin, float vmax);
void f32_dwconv3x3_s1__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax);
void f32_dwconv3x3_s2__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                              size_t out_cs, int oy0, int oy1, int channels, const float* w,
                              const float* bias, int pad_top, int pad_left, float vmin, float vmax);
void f32_conv3x3__avx512(const float* in, int ih, int iw, size_t in_cs, int cin, float* out, int ow, size_t out_cs,
                         int cout, int stride, int pad, int p0, int p1, const float* packed_w, const float* bias,
                         float vmin, float vmax);
void f32_train_conv3x3__avx512(float* out, size_t out_stride, const float* in, size_t in_stride, const float* packed,
                               int m, int c, int h, int w, int i0, int i1, float* panel);
void f32_train_conv3x3_dweight__avx512(float* dwt, const float* dy, size_t dy_stride, const float* x, size_t x_stride,
                                       int m, int c, int h, int w, int i0, int i1, float* scratch);
void f32_global_avgpool__avx512(const float* in, int pixels, size_t in_cs, int channels, float* out);
void f32_maxpool2d_nhwc__avx512(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow,
                                size_t out_cs, int channels, int kernel, int stride, int pad);

// AVX2+FMA: GEMM micro-tile up to 6 rows x 16 columns (2 ymm).
constexpr int kAvx2GemmMr = 6, kAvx2GemmNr = 16;
void f32_gemm__avx2(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                    const float* bias, float* c, size_t ldc, float vmin, float vmax);
void f32_fc__avx2(int n, int k, const float* x, const float* packed_b, const float* bias,
                  float* out, float vmin, float vmax);
void f32_dwconv3x3_s1__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax);
void f32_dwconv3x3_s2__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax);
void f32_global_avgpool__avx2(const float* in, int pixels, size_t in_cs, int channels, float* out);
void f32_maxpool2d_nhwc__avx2(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow,
                              size_t out_cs, int channels, int kernel, int stride, int pad);

}  // namespace kernels
}  // namespace trim
