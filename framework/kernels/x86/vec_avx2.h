// vec_avx2.h - vector operations for the SIMD algorithms shared across ISAs (dwconv3x3_simd.h,
// maxpool_simd.h): reg, mask, kLanes, mask_for, whole and masked load / store, set1, fmadd,
// min, max. AVX2: 8 floats per ymm, a partial block through vmaskmovps.
// Include only from a file compiled with this ISA's flags.
#pragma once

#include <immintrin.h>

namespace trim {
namespace kernels {
namespace simd_detail {

struct Avx2Vec {
  using reg = __m256;
  struct mask {
    __m256i m;
    bool full;
  };
  static constexpr int kLanes = 8;
  static mask mask_for(int left) {
    return {_mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), left >= 8};
  }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg load(const float* p, const mask& m) { return m.full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.m); }
  static void store(float* p, const mask& m, reg v) {
    if (m.full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m.m, v);
  }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
};

}  // namespace simd_detail
}  // namespace kernels
}  // namespace trim
