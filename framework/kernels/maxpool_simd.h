// maxpool_simd.h - max pooling on NHWC activations, written once and compiled per ISA with the
// vector operations of x86/vec_avx512.h, x86/vec_avx2.h or arm/vec_neon.h (the way
// dwconv3x3_simd.h is). One output pixel at a time, one block of V::kLanes channels at a time:
// the window's taps inside the image are loaded and max-reduced, the block stored once. Taps
// outside the image are left out; a window with none inside gives -inf (f32_maxpool2d_nhwc__ref
// does the same). Pooling is pure data movement: the point is loading whole channel vectors
// instead of the reference's one float at a time (pruned SICK-Nets spent ~11% of their time in
// the scalar pools).
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>

namespace trim {
namespace kernels {
namespace simd_detail {

template <class V>
void maxpool2d(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow, size_t out_cs, int channels,
               int kernel, int stride, int pad) {
  using R = typename V::reg;
  const R lowest = V::set1(-std::numeric_limits<float>::infinity());
  for (int oy = 0; oy < oh; ++oy) {
    const int y0 = oy * stride - pad;
    const int ky_lo = std::max(0, -y0), ky_hi = std::min(kernel, ih - y0);
    for (int ox = 0; ox < ow; ++ox) {
      const int x0 = ox * stride - pad;
      const int kx_lo = std::max(0, -x0), kx_hi = std::min(kernel, iw - x0);
      float* o = out + (static_cast<size_t>(oy) * ow + ox) * out_cs;
      for (int c = 0; c < channels; c += V::kLanes) {
        const typename V::mask m = V::mask_for(channels - c);
        R acc = lowest;
        for (int ky = ky_lo; ky < ky_hi; ++ky) {
          const float* p = in + (static_cast<size_t>(y0 + ky) * iw + x0) * in_cs + c;
          // max(x, acc): where x is NaN the running maximum is kept, as std::max(acc, x) does.
          for (int kx = kx_lo; kx < kx_hi; ++kx) acc = V::max(V::load(p + static_cast<size_t>(kx) * in_cs, m), acc);
        }
        V::store(o + c, m, acc);
      }
    }
  }
}

}  // namespace simd_detail
}  // namespace kernels
}  // namespace trim
