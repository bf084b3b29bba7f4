// layout_ref.cpp - per-channel affine + clamp (an unfused batch norm or activation) and the
// NCHW <-> NHWC conversions done once at the engine's input and output.
#include <algorithm>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

void f32_affine_nhwc__ref(const float* in, int pixels, size_t in_cs, float* out, size_t out_cs,
                          int channels, const float* scale, const float* shift, float vmin, float vmax) {
  for (int p = 0; p < pixels; ++p) {
    const float* i = in + static_cast<size_t>(p) * in_cs;
    float* o = out + static_cast<size_t>(p) * out_cs;
    for (int c = 0; c < channels; ++c) o[c] = std::min(std::max(i[c] * scale[c] + shift[c], vmin), vmax);
  }
}

void f32_nchw_to_nhwc__ref(const float* in, int channels, int pixels, float* out, size_t out_cs) {
  for (int c = 0; c < channels; ++c)
    for (int p = 0; p < pixels; ++p) out[static_cast<size_t>(p) * out_cs + c] = in[static_cast<size_t>(c) * pixels + p];
}

void f32_nhwc_to_nchw__ref(const float* in, int channels, int pixels, size_t in_cs, float* out) {
  for (int c = 0; c < channels; ++c)
    for (int p = 0; p < pixels; ++p) out[static_cast<size_t>(c) * pixels + p] = in[static_cast<size_t>(p) * in_cs + c];
}

}  // namespace kernels
}  // namespace trim
