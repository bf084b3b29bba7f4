// conv_ref.cpp - scalar general convolution (any kernel, stride, padding, groups) and im2col,
// both NHWC. The general convolution is the engine's fallback for shapes without a fast path.
#include <algorithm>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

void f32_conv2d_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, int cin, float* out,
                          int oh, int ow, size_t out_cs, int cout, int kernel, int stride, int pad,
                          int groups, const float* w, const float* bias, float vmin, float vmax) {
  const int cin_g = cin / groups, cout_g = cout / groups;
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int co = 0; co < cout; ++co) {
        const int g = co / cout_g;
        float acc = bias ? bias[co] : 0.f;
        for (int ci = 0; ci < cin_g; ++ci)
          for (int ky = 0; ky < kernel; ++ky)
            for (int kx = 0; kx < kernel; ++kx) {
              int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
              if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
              acc += in[(static_cast<size_t>(iy) * iw + ix) * in_cs + g * cin_g + ci] *
                     w[((static_cast<size_t>(co) * cin_g + ci) * kernel + ky) * kernel + kx];
            }
        out[(static_cast<size_t>(oy) * ow + ox) * out_cs + co] = std::min(std::max(acc, vmin), vmax);
      }
}

void f32_im2col_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, int cin, int ow,
                          int kernel, int stride, int pad, int p0, int p1, float* col, size_t ldcol) {
  // When pixels are packed (in_cs == cin) the kernel-wide run of a row is one contiguous block
  // of kernel*cin floats: for the RGB stem that is 9 floats per kernel row, not 3 calls of 3.
  // Plain loops rather than memcpy: the runs are a few floats long.
  const bool packed = in_cs == static_cast<size_t>(cin);
  for (int p = p0; p < p1; ++p) {
    const int oy = p / ow, ox = p % ow;
    float* row = col + static_cast<size_t>(p - p0) * ldcol;
    const int ix0 = ox * stride - pad;
    const bool cols_inside = ix0 >= 0 && ix0 + kernel <= iw;
    for (int ky = 0; ky < kernel; ++ky) {
      float* dst = row + ky * kernel * cin;
      const int iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= ih) {
        for (int j = 0; j < kernel * cin; ++j) dst[j] = 0.f;
        continue;
      }
      const float* src_row = in + static_cast<size_t>(iy) * iw * in_cs;
      if (packed && cols_inside) {
        const float* src = src_row + static_cast<size_t>(ix0) * cin;
        for (int j = 0; j < kernel * cin; ++j) dst[j] = src[j];
        continue;
      }
      for (int kx = 0; kx < kernel; ++kx, dst += cin) {
        const int ix = ix0 + kx;
        if (ix < 0 || ix >= iw) {
          for (int c = 0; c < cin; ++c) dst[c] = 0.f;
        } else {
          const float* src = src_row + static_cast<size_t>(ix) * in_cs;
          for (int c = 0; c < cin; ++c) dst[c] = src[c];
        }
      }
    }
  }
}

}  // namespace kernels
}  // namespace trim
