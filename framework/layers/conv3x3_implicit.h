// conv3x3_implicit.h - 3x3, stride-1, padding-1 convolution (every convolution of SICK-Net, and
// the transposed convolution that gives their input gradient) as a GEMM that packs its
// column-matrix panels straight from the input planes: no im2col buffer, no second packing copy
// inside the BLAS. Used by Conv2d's blocked path (conv2d_gemm.cpp) for the forward pass and the
// input gradient where conv3x3_implicit_available(), and for the weight gradient where
// conv3x3_dweight_available() (conv3x3_implicit_dweight); otherwise im2col + sgemm. The kernels
// come from the kernel table (kernels::kernels() unless a table is passed; TRIM_ISA=ref has none,
// so training then runs im2col + sgemm throughout). Private to the layer files.
#pragma once

#include <cstddef>

#include "framework/kernels/kernels.h"

namespace trim {
namespace conv_detail {

// Table t has the kernel and m rows suit it (AVX-512: m a multiple of 8).
bool conv3x3_implicit_available(int m, const kernels::KernelTable& t = kernels::kernels());

// Floats of conv3x3_pack_weights' output, and of the per-thread panel conv3x3_implicit needs.
size_t conv3x3_packed_floats(int m, int c);
size_t conv3x3_panel_floats(int m, int c);

// a: m x 9c row-major (the weights of m filters over c channels, 3x3, as Conv2d stores them),
// packed for conv3x3_implicit: rows 8 * tile .. 8 * tile + 7 (one call per tile, m / 8 tiles, so
// callers can spread them over threads).
void conv3x3_pack_weights(float* packed, const float* a, int m, int c, int tile);
// The same for the input gradient: w holds c filters over m channels ([c][m][3][3], Conv2d's
// layout), and the matrix packed is the transposed convolution's, m x 9c with
// row ci, column oc * 9 + t = w[oc][ci][8 - t] (the kernel flipped).
void conv3x3_pack_weights_flipped(float* packed, const float* w, int m, int c, int tile);

// For images i in [i0, i1): out[i][r][p] = sum over (ci, ky, kx) of a[r][(ci*3+ky)*3+kx] *
// in[i][ci][p shifted by (ky-1, kx-1)], 0 outside the h x w plane, for r < m and p < h*w.
// Image i's channel ci starts at in + i*in_stride + ci*h*w, its output row r at
// out + i*out_stride + r*h*w. Serial: the caller splits images over threads. panel holds
// conv3x3_panel_floats(m, c) floats.
// Throws Error if !conv3x3_implicit_available(m, t).
void conv3x3_implicit(float* out, size_t out_stride, const float* in, size_t in_stride, const float* packed, int m,
                      int c, int h, int w, int i0, int i1, float* panel,
                      const kernels::KernelTable& t = kernels::kernels());

// The weight gradient of the same convolution: dwt[k][r] += sum over images i in [i0, i1) and
// pixels p of dy[i][r][p] * col_i[k][p], k = (ci*3+ky)*3+kx < 9c, r < m: k-major (the
// transpose of Conv2d's weight layout), rows of m floats. Image i's output-gradient row r starts
// at dy + i*dy_stride + r*h*w, its input channel ci at x + i*x_stride + ci*h*w. Images in order,
// pixels in order. Serial; scratch holds conv3x3_dweight_scratch_floats(m, c, h, w) floats.
// Table t has the kernel and the shape suits it (AVX-512: m a multiple of 32, c of 8).
bool conv3x3_dweight_available(int m, int c, const kernels::KernelTable& t = kernels::kernels());
size_t conv3x3_dweight_scratch_floats(int m, int c, int h, int w);
// Throws Error if !conv3x3_dweight_available(m, c, t).
void conv3x3_implicit_dweight(float* dwt, const float* dy, size_t dy_stride, const float* x, size_t x_stride, int m,
                              int c, int h, int w, int i0, int i1, float* scratch,
                              const kernels::KernelTable& t = kernels::kernels());

}  // namespace conv_detail
}  // namespace trim
