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

// Debian 12's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise Zen 4 and falls back to its
// SSE3 "Prescott" kernels, 4-5x slower than its AVX-512 "SkylakeX" ones on this CPU. The core is
// chosen by OPENBLAS_CORETYPE when the library loads, before main(), so when it is unset and
// the chosen core is weaker than the CPU, this sets it and re-executes the program (once; the
// variable is then set). Every tool calls it first; TRIM_BLAS_REEXEC=0 turns it off.
void prefer_fast_blas_core(char** argv);
// The OpenBLAS core in use ("SkylakeX", "Haswell", ...), or "none" without OpenBLAS.
const char* blas_core_name();

}  // namespace trim
