// insn_count.cpp - one kernel call on one MobileNet V1 shape, for counting executed aarch64
// instructions under qemu with ../shared/arm/qemu_insn_count.c (insn_count.sh drives it).
// The count of a call is the difference between a run with reps=1 and one with reps=0: start-up,
// allocation and packing are the same in both, so the difference is the kernel alone.
//
//   insn_count gemm M K N REPS        trim's NEON GEMM (the pointwise layers)
//   insn_count dw H C STRIDE REPS     trim's NEON depthwise 3x3, pad 1
//   insn_count openblas M K N REPS    OpenBLAS cblas_sgemm (built with -DTRIM_WITH_OPENBLAS)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "framework/kernels/kernels.h"
#ifdef TRIM_WITH_OPENBLAS
#include <cblas.h>
#endif

using namespace trim::kernels;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: insn_count gemm|openblas M K N REPS | dw H C STRIDE REPS\n");
    return 2;
  }
  const std::string mode = argv[1];
  const int a1 = std::atoi(argv[2]), a2 = std::atoi(argv[3]), a3 = std::atoi(argv[4]), reps = std::atoi(argv[5]);
  const KernelTable* t = kernels_for("neon");
  if (!t) t = kernels_for("ref");
  float sink = 0.f;
  if (mode == "gemm" || mode == "openblas") {
    const int m = a1, k = a2, n = a3;
    std::vector<float> a(static_cast<size_t>(m) * k, 0.5f), w(static_cast<size_t>(n) * k, 0.25f);
    std::vector<float> c(static_cast<size_t>(m) * n), bias(round_up(n, t->gemm_nr), 0.f);
    std::vector<float> pb(packed_gemm_b_size(n, k, t->gemm_nr));
    pack_gemm_b(n, k, w.data(), k, t->gemm_nr, pb.data());
    for (int r = 0; r < reps; ++r) {
      if (mode == "gemm") {
        t->gemm(m, n, k, a.data(), k, pb.data(), bias.data(), c.data(), n, 0.f, 1e30f);
      } else {
#ifdef TRIM_WITH_OPENBLAS
        // B as k x n row-major: the same product as trim's packed B.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.f, a.data(), k, w.data(), k, 0.f, c.data(), n);
#else
        std::fprintf(stderr, "built without OpenBLAS\n");
        return 2;
#endif
      }
    }
    sink = c[0];
  } else if (mode == "dw") {
    const int h = a1, ch = a2, s = a3, o = (h + 2 - 3) / s + 1;
    std::vector<float> in(static_cast<size_t>(h) * h * ch, 0.5f), w(9 * ch, 0.1f), out(static_cast<size_t>(o) * o * ch);
    std::vector<float> pw(packed_dwconv3x3_size(ch)), bias(round_up(ch, kWeightAlign), 0.f);
    pack_dwconv3x3(ch, w.data(), pw.data());
    for (int r = 0; r < reps; ++r)
      (s == 1 ? t->dwconv3x3_s1 : t->dwconv3x3_s2)(in.data(), h, h, ch, out.data(), o, ch, 0, o, ch, pw.data(),
                                                    bias.data(), 1, 1, 0.f, 1e30f);
    sink = out[0];
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  std::printf("%s %s\n", t->isa, sink > -1e30f ? "ok" : "?");
  return 0;
}
