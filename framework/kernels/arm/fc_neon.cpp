// fc_neon.cpp - f32_fc__neon: the classifier at batch 1, a matrix-vector product over the
// GEMM's packed weights (panels of 8 outputs). Four k steps per iteration into separate
// accumulators keep the fmla latency off the critical path.
#include <arm_neon.h>

#include <algorithm>

#include "framework/kernels/arm/neon_kernels.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

void f32_fc__neon(int n, int k, const float* x, const float* packed_b, const float* bias, float* out,
                  float vmin, float vmax) {
  constexpr int NR = kNeonGemmNr;
  const float32x4_t vlo = vdupq_n_f32(vmin), vhi = vdupq_n_f32(vmax);
  const int panels = (n + NR - 1) / NR;
  for (int pn = 0; pn < panels; ++pn) {
    const float* b = packed_b + static_cast<size_t>(pn) * k * NR;
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int p = 0;
    for (; p + 4 <= k; p += 4, b += 4 * NR) {
      const float32x4_t xv = vld1q_f32(x + p);
      a0 = vfmaq_laneq_f32(a0, vld1q_f32(b), xv, 0);
      a1 = vfmaq_laneq_f32(a1, vld1q_f32(b + 4), xv, 0);
      a2 = vfmaq_laneq_f32(a2, vld1q_f32(b + 8), xv, 1);
      a3 = vfmaq_laneq_f32(a3, vld1q_f32(b + 12), xv, 1);
      a4 = vfmaq_laneq_f32(a4, vld1q_f32(b + 16), xv, 2);
      a5 = vfmaq_laneq_f32(a5, vld1q_f32(b + 20), xv, 2);
      a6 = vfmaq_laneq_f32(a6, vld1q_f32(b + 24), xv, 3);
      a7 = vfmaq_laneq_f32(a7, vld1q_f32(b + 28), xv, 3);
    }
    for (; p < k; ++p, b += NR) {
      a0 = vfmaq_n_f32(a0, vld1q_f32(b), x[p]);
      a1 = vfmaq_n_f32(a1, vld1q_f32(b + 4), x[p]);
    }
    float32x4_t lo = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a4, a6));
    float32x4_t hi = vaddq_f32(vaddq_f32(a1, a3), vaddq_f32(a5, a7));
    lo = vminq_f32(vmaxq_f32(vaddq_f32(lo, vld1q_f32(bias + pn * NR)), vlo), vhi);
    hi = vminq_f32(vmaxq_f32(vaddq_f32(hi, vld1q_f32(bias + pn * NR + 4)), vlo), vhi);
    const int cols = std::min(NR, n - pn * NR);
    float* o = out + pn * NR;
    if (cols == NR) {
      vst1q_f32(o, lo);
      vst1q_f32(o + 4, hi);
    } else {
      float t[NR];
      vst1q_f32(t, lo);
      vst1q_f32(t + 4, hi);
      for (int j = 0; j < cols; ++j) o[j] = t[j];
    }
  }
}

}  // namespace kernels
}  // namespace trim
