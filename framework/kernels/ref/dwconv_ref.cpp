// dwconv_ref.cpp - scalar depthwise 3x3 convolution, NHWC, zero padding, any stride.
#include <algorithm>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

namespace {
void dwconv3x3_ref(int stride, const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                   size_t out_cs, int oy0, int oy1, int channels, const float* w, const float* bias,
                   int pad_top, int pad_left, float vmin, float vmax) {
  const size_t wcs = round_up(static_cast<size_t>(channels), kWeightAlign);
  for (int oy = oy0; oy < oy1; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int c = 0; c < channels; ++c) {
        float acc = bias[c];
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            int iy = oy * stride - pad_top + ky, ix = ox * stride - pad_left + kx;
            if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
            acc += in[(static_cast<size_t>(iy) * iw + ix) * in_cs + c] * w[(ky * 3 + kx) * wcs + c];
          }
        out[(static_cast<size_t>(oy) * ow + ox) * out_cs + c] = std::min(std::max(acc, vmin), vmax);
      }
}
}  // namespace

void f32_dwconv3x3_s1__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                           size_t out_cs, int oy0, int oy1, int channels, const float* w,
                           const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  dwconv3x3_ref(1, in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left, vmin, vmax);
}

void f32_dwconv3x3_s2__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                           size_t out_cs, int oy0, int oy1, int channels, const float* w,
                           const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  dwconv3x3_ref(2, in, ih, iw, in_cs, out, ow, out_cs, oy0, oy1, channels, w, bias, pad_top, pad_left, vmin, vmax);
}

}  // namespace kernels
}  // namespace trim
