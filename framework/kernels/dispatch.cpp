// dispatch.cpp - the one place an ISA is chosen: once per process, from the CPU's features,
// unless TRIM_ISA=ref|avx2|avx512|neon forces a path (for debugging and for comparing paths).
#include <cstdlib>
#include <string>

#include "framework/kernels/kernels.h"
#include "framework/tensor.h"  // trim::Error
#if defined(__x86_64__) || defined(_M_X64)
#include "framework/kernels/x86/x86_kernels.h"
#define TRIM_KERNELS_X86 1
#elif defined(__aarch64__)
#include "framework/kernels/arm/neon_kernels.h"
#define TRIM_KERNELS_NEON 1
#endif

namespace trim {
namespace kernels {

namespace {

KernelTable make_ref() {
  KernelTable t;
  t.isa = "ref";
  t.gemm_mr = 1;
  t.gemm_nr = 8;  // must match kRefNr in ref/gemm_ref.cpp
  t.channel_align = 1;
  t.gemm = f32_gemm__ref;
  t.dwconv3x3_s1 = f32_dwconv3x3_s1__ref;
  t.dwconv3x3_s2 = f32_dwconv3x3_s2__ref;
  t.global_avgpool = f32_global_avgpool__ref;
  t.maxpool2d = f32_maxpool2d_nhwc__ref;
  t.fc = f32_fc__ref;
  return t;
}

#ifdef TRIM_KERNELS_X86
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
// libgcc's checks include the OS (XCR0) support for the AVX-512 register state.
bool cpu_has_avx512() {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}

KernelTable make_avx2() {
  KernelTable t;
  t.isa = "avx2";
  t.gemm_mr = kAvx2GemmMr;
  t.gemm_nr = kAvx2GemmNr;
  t.channel_align = 8;
  t.gemm = f32_gemm__avx2;
  t.dwconv3x3_s1 = f32_dwconv3x3_s1__avx2;
  t.dwconv3x3_s2 = f32_dwconv3x3_s2__avx2;
  t.global_avgpool = f32_global_avgpool__avx2;
  t.maxpool2d = f32_maxpool2d_nhwc__avx2;
  t.fc = f32_fc__avx2;
  return t;
}

KernelTable make_avx512() {
  KernelTable t;
  t.isa = "avx512";
  t.gemm_mr = kAvx512GemmMr;
  t.gemm_nr = kAvx512GemmNr;
  t.channel_align = 16;
  t.gemm = f32_gemm__avx512;
  t.dwconv3x3_s1 = f32_dwconv3x3_s1__avx512;
  t.dwconv3x3_s2 = f32_dwconv3x3_s2__avx512;
  t.global_avgpool = f32_global_avgpool__avx512;
  t.maxpool2d = f32_maxpool2d_nhwc__avx512;
  t.fc = f32_fc__avx512;
  t.conv3x3 = f32_conv3x3__avx512;
  t.train_conv3x3 = f32_train_conv3x3__avx512;
  t.train_conv3x3_dweight = f32_train_conv3x3_dweight__avx512;
  return t;
}
#endif

#ifdef TRIM_KERNELS_NEON
KernelTable make_neon() {
  KernelTable t;
  t.isa = "neon";
  t.gemm_mr = kNeonGemmMr;
  t.gemm_nr = kNeonGemmNr;
  t.channel_align = 4;
  t.gemm = f32_gemm__neon;
  t.dwconv3x3_s1 = f32_dwconv3x3_s1__neon;
  t.dwconv3x3_s2 = f32_dwconv3x3_s2__neon;
  t.global_avgpool = f32_global_avgpool__neon;
  t.maxpool2d = f32_maxpool2d_nhwc__neon;
  t.fc = f32_fc__neon;
  t.conv3x3 = f32_conv3x3__neon;
  return t;
}
#endif

std::string known_list() {
  std::string s;
  for (const auto& n : known_isas()) s += (s.empty() ? "" : "|") + n;
  return s;
}

}  // namespace

const std::vector<std::string>& known_isas() {
  static const std::vector<std::string> names = {"ref", "avx2", "avx512", "neon"};
  return names;
}

const KernelTable* kernels_for(const std::string& isa) {
  static const KernelTable ref = make_ref();
  if (isa == "ref") return &ref;
#ifdef TRIM_KERNELS_X86
  static const KernelTable avx2 = make_avx2();
  static const KernelTable avx512 = make_avx512();
  if (isa == "avx2") return cpu_has_avx2() ? &avx2 : nullptr;
  if (isa == "avx512") return cpu_has_avx512() ? &avx512 : nullptr;
#endif
#ifdef TRIM_KERNELS_NEON
  static const KernelTable neon = make_neon();
  if (isa == "neon") return &neon;  // Advanced SIMD is part of every Armv8-A core
#endif
  return nullptr;
}

std::vector<std::string> available_isas() {
  std::vector<std::string> out;
  for (const auto& n : known_isas())
    if (kernels_for(n)) out.push_back(n);
  return out;
}

const KernelTable& kernels_from_env(const char* env) {
  if (env && *env) {
    const std::string want(env);
    bool known = false;
    for (const auto& n : known_isas()) known = known || n == want;
    if (!known) throw Error("TRIM_ISA='" + want + "' is not an ISA trim knows (" + known_list() + ")");
    const KernelTable* t = kernels_for(want);
    if (!t) throw Error("TRIM_ISA='" + want + "': this CPU or build cannot run it (available: " +
                        [] { std::string s; for (const auto& n : available_isas()) s += (s.empty() ? "" : "|") + n; return s; }() + ")");
    return *t;
  }
  const std::vector<std::string> have = available_isas();
  return *kernels_for(have.back());
}

const KernelTable& kernels() {
  static const KernelTable& chosen = kernels_from_env(std::getenv("TRIM_ISA"));
  return chosen;
}

}  // namespace kernels
}  // namespace trim
