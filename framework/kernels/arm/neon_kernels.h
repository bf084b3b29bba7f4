// neon_kernels.h - the Armv8.0-A Advanced SIMD kernels (plain NEON: no fp16, no dot product).
// Signatures are those of kernels.h; compiled only for aarch64 (framework/kernels/CMakeLists.txt).
#pragma once

#include <cstddef>

// Put before the loops over a micro-tile's rows (bounds are template constants). GCC 12 unrolls
// them anyway, but too late for scalar replacement of the accumulator arrays: without the pragma
// it keeps acc[] on the stack and stores every accumulator back once per k loop iteration
// (gemm_tile<8>: 96 instructions for 64 FMAs per 4 k steps instead of about 80).
#define TRIM_NEON_UNROLL_ROWS _Pragma("GCC unroll 16")

namespace trim {
namespace kernels {

// GEMM micro-tile up to 8 rows x 8 columns (16 q-register accumulators).
constexpr int kNeonGemmMr = 8, kNeonGemmNr = 8;
void f32_gemm__neon(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                    const float* bias, float* c, size_t ldc, float vmin, float vmax);
void f32_fc__neon(int n, int k, const float* x, const float* packed_b, const float* bias, float* out,
                  float vmin, float vmax);
void f32_dwconv3x3_s1__neon(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax);
void f32_dwconv3x3_s2__neon(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                            size_t out_cs, int oy0, int oy1, int channels, const float* w,
                            const float* bias, int pad_top, int pad_left, float vmin, float vmax);
// Standard 3x3 convolution straight from NHWC (implicit GEMM, no im2col): kernels.h's Conv3x3Fn.
void f32_conv3x3__neon(const float* in, int ih, int iw, size_t in_cs, int cin, float* out, int ow, size_t out_cs,
                       int cout, int stride, int pad, int p0, int p1, const float* packed_w, const float* bias,
                       float vmin, float vmax);
void f32_global_avgpool__neon(const float* in, int pixels, size_t in_cs, int channels, float* out);
void f32_maxpool2d_nhwc__neon(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow,
                              size_t out_cs, int channels, int kernel, int stride, int pad);

}  // namespace kernels
}  // namespace trim
