// im2col.h - the column matrix of a convolution and its adjoint, for the layers that run a
// convolution as im2col + GEMM (conv2d_gemm.cpp, and the per-image reference conv2d_ref.cpp).
#pragma once

#include <cstddef>

namespace trim {

// Geometry of one convolution over one image (one group's channels).
struct ConvGeom {
  int c, h, w;  // input channels, height, width
  int oh, ow;   // output size
  int k, s, p;  // kernel, stride, padding
};

// Range [lo, hi) of output columns whose input column ox*s - p + kx lies inside [0, w).
void valid_cols(int w, int ow, int s, int p, int kx, int& lo, int& hi);

// col[(ci*k + ky)*k + kx][oy*ow + ox] = x[ci][oy*s - p + ky][ox*s - p + kx] (0 outside), one
// image. Rows are ldcol floats apart (>= oh*ow), so several images can sit side by side in one
// column matrix and share one GEMM.
void im2col(float* col, size_t ldcol, const float* x, const ConvGeom& g);

// The adjoint of im2col: dx[ci][iy][ix] += every col entry that was copied from it. The caller
// zeroes dx.
void col2im(float* dx, const float* col, size_t ldcol, const ConvGeom& g);

}  // namespace trim
