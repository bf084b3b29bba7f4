#include "framework/blas.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <strings.h>

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

const char* blas_core_name() { return openblas_get_corename(); }

void prefer_fast_blas_core(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  const char* off = std::getenv("TRIM_BLAS_REEXEC");
  if (off && std::strcmp(off, "0") == 0) return;
#if defined(__x86_64__)
  const char* core = openblas_get_corename();
  for (const char* good : {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"})
    if (core && strcasecmp(core, good) == 0) return;
  __builtin_cpu_init();
  const char* want = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    want = "SkylakeX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    want = "Haswell";
  if (!want) return;
  setenv("OPENBLAS_CORETYPE", want, 1);
  execv("/proc/self/exe", argv);  // only returns on failure: carry on with the slow core
#else
  (void)argv;
#endif
}
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
const char* blas_core_name() { return "none"; }
void prefer_fast_blas_core(char**) {}
#endif

}  // namespace trim
