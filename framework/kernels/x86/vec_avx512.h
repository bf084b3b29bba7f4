// vec_avx512.h - vector operations for the SIMD algorithms shared across ISAs (dwconv3x3_simd.h,
// maxpool_simd.h): reg, mask, kLanes, mask_for, whole and masked load / store, set1, fmadd,
// min, max. AVX-512: 16 floats per zmm, masks free.
// Include only from a file compiled with this ISA's flags.
#pragma once

#include <immintrin.h>

namespace trim {
namespace kernels {
namespace simd_detail {

struct Avx512Vec {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int kLanes = 16;
  static mask mask_for(int left) { return left >= 16 ? static_cast<mask>(0xFFFF) : static_cast<mask>((1u << left) - 1); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg load(const float* p, mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, mask m, reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
};

}  // namespace simd_detail
}  // namespace kernels
}  // namespace trim
