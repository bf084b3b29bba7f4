#include "framework/blas.h"

#ifdef TRIM_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace trim {

#ifdef TRIM_HAVE_OPENBLAS
void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void blas_single_threaded() { openblas_set_num_threads(1); }
#else
// Plain blocked GEMM: good enough for training on the board; inference uses the packed kernels.
void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i) {
    float* crow = c + static_cast<long>(i) * ldc;
    if (beta == 0.f) {
      for (int j = 0; j < n; ++j) crow[j] = 0.f;
    } else if (beta != 1.f) {
      for (int j = 0; j < n; ++j) crow[j] *= beta;
    }
  }
  const int kb = 256;
  for (int p0 = 0; p0 < k; p0 += kb) {
    int p1 = p0 + kb < k ? p0 + kb : k;
    for (int i = 0; i < m; ++i) {
      float* crow = c + static_cast<long>(i) * ldc;
      for (int p = p0; p < p1; ++p) {
        float av = alpha * (trans_a ? a[static_cast<long>(p) * lda + i] : a[static_cast<long>(i) * lda + p]);
        if (av == 0.f) continue;
        if (!trans_b) {
          const float* brow = b + static_cast<long>(p) * ldb;
          for (int j = 0; j < n; ++j) crow[j] += av * brow[j];
        } else {
          for (int j = 0; j < n; ++j) crow[j] += av * b[static_cast<long>(j) * ldb + p];
        }
      }
    }
  }
}

void blas_single_threaded() {}
#endif

}  // namespace trim
