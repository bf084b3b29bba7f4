// pool_ref.cpp - scalar pooling, NHWC: global average, max, average (padding excluded).
#include <algorithm>
#include <limits>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

void f32_global_avgpool__ref(const float* in, int pixels, size_t in_cs, int channels, float* out) {
  for (int c = 0; c < channels; ++c) {
    float s = 0.f;
    for (int p = 0; p < pixels; ++p) s += in[static_cast<size_t>(p) * in_cs + c];
    out[c] = s / static_cast<float>(pixels);
  }
}

void f32_maxpool2d_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int oh,
                             int ow, size_t out_cs, int channels, int kernel, int stride, int pad) {
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox) {
      float* o = out + (static_cast<size_t>(oy) * ow + ox) * out_cs;
      for (int c = 0; c < channels; ++c) o[c] = -std::numeric_limits<float>::infinity();
      for (int ky = 0; ky < kernel; ++ky)
        for (int kx = 0; kx < kernel; ++kx) {
          int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
          if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
          const float* i = in + (static_cast<size_t>(iy) * iw + ix) * in_cs;
          for (int c = 0; c < channels; ++c) o[c] = std::max(o[c], i[c]);
        }
    }
}

void f32_avgpool2d_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int oh,
                             int ow, size_t out_cs, int channels, int kernel, int stride, int pad) {
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox) {
      float* o = out + (static_cast<size_t>(oy) * ow + ox) * out_cs;
      for (int c = 0; c < channels; ++c) o[c] = 0.f;
      int count = 0;
      for (int ky = 0; ky < kernel; ++ky)
        for (int kx = 0; kx < kernel; ++kx) {
          int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
          if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
          ++count;
          const float* i = in + (static_cast<size_t>(iy) * iw + ix) * in_cs;
          for (int c = 0; c < channels; ++c) o[c] += i[c];
        }
      const float inv = count ? 1.f / static_cast<float>(count) : 0.f;
      for (int c = 0; c < channels; ++c) o[c] *= inv;
    }
}

}  // namespace kernels
}  // namespace trim
