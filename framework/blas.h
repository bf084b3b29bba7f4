// blas.h - the one GEMM entry point of the training path. Row-major C = alpha*op(A)*op(B) + beta*C.
// Calls OpenBLAS when the build has it (x86 host); otherwise (the aarch64 cross build) a
// cache-blocked GEMM of trim's own, so the same layers train everywhere.
#pragma once

namespace trim {

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc);

// Limits OpenBLAS to one thread: trim parallelises with OpenMP across the batch and channels,
// and two thread pools fighting over two cores halves throughput.
void blas_single_threaded();

}  // namespace trim
