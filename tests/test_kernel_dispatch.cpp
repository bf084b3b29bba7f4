// test_kernel_dispatch.cpp - the ISA is chosen once, TRIM_ISA forces one, unknown or
// unsupported names are errors, and every table is complete.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "framework/kernels/kernels.h"
#include "framework/tensor.h"

namespace {

using namespace trim::kernels;

TEST(Dispatch, RefIsAlwaysAvailableAndFirst) {
  auto isas = available_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), "ref");
  ASSERT_NE(kernels_for("ref"), nullptr);
  EXPECT_EQ(kernels_for("no-such-isa"), nullptr);
}

TEST(Dispatch, DefaultIsTheBestAvailable) {
  EXPECT_EQ(std::string(kernels_from_env(nullptr).isa), available_isas().back());
  EXPECT_EQ(std::string(kernels_from_env("").isa), available_isas().back());
#if defined(__aarch64__)
  EXPECT_EQ(available_isas().back(), "neon");
#endif
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    EXPECT_EQ(available_isas().back(), "avx512");
  }
#endif
}

TEST(Dispatch, EnvironmentForcesEachAvailableIsa) {
  for (const auto& isa : available_isas()) EXPECT_EQ(std::string(kernels_from_env(isa.c_str()).isa), isa);
}

TEST(Dispatch, UnknownOrUnsupportedIsaIsAnError) {
  try {
    kernels_from_env("sse9");
    FAIL() << "no error for an unknown ISA";
  } catch (const trim::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sse9"), std::string::npos) << e.what();
  }
  for (const auto& isa : known_isas())
    if (!kernels_for(isa)) {
      EXPECT_THROW(kernels_from_env(isa.c_str()), trim::Error) << isa;
    }
}

TEST(Dispatch, ProcessTableFollowsTrimIsa) {
  const char* env = std::getenv("TRIM_ISA");
  const KernelTable& t = kernels();
  EXPECT_EQ(&t, &kernels()) << "chosen once";
  if (env && *env) EXPECT_EQ(std::string(t.isa), env);
  else EXPECT_EQ(std::string(t.isa), available_isas().back());
}

TEST(Dispatch, TablesAreComplete) {
  for (const auto& isa : available_isas()) {
    const KernelTable& t = *kernels_for(isa);
    EXPECT_EQ(std::string(t.isa), isa);
    EXPECT_GE(t.gemm_mr, 1);
    EXPECT_GE(t.gemm_nr, 1);
    EXPECT_GE(t.channel_align, 1);
    EXPECT_NE(t.gemm, nullptr) << isa;
    EXPECT_NE(t.dwconv3x3_s1, nullptr) << isa;
    EXPECT_NE(t.dwconv3x3_s2, nullptr) << isa;
    EXPECT_NE(t.global_avgpool, nullptr) << isa;
    EXPECT_NE(t.maxpool2d, nullptr) << isa;
    EXPECT_NE(t.fc, nullptr) << isa;
  }
}

}  // namespace
