// test_kernel_gemm.cpp - the packed GEMM (pointwise convolution) and FC kernels of every ISA
// against their scalar references, and the references against a plain triple loop on unpacked
// weights. Shapes below, at, above and at multiples of each micro-tile, odd strides, every clamp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "framework/kernels/kernels.h"

namespace {

using namespace trim::kernels;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kSentinel = 12345.f;  // padding lanes must keep it: kernels write only real lanes

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

struct Clamp {
  float lo, hi;
  const char* name;
};
const Clamp kClamps[] = {{-kInf, kInf, "none"}, {0.f, kInf, "relu"}, {0.f, 0.5f, "relu6-like(0..0.5)"}};

// Worst-case fp32 summation error of k products: ~2 k eps times the sum of absolute terms.
float tolerance(int k, float abs_sum) { return 2.f * (k + 2) * 6e-8f * abs_sum + 1e-6f; }

// y = clamp(bias + A W^T) computed from the unpacked weights, plus the per-element abs sums.
void naive_gemm(int m, int n, int k, const std::vector<float>& a, size_t lda, const std::vector<float>& w,
                const std::vector<float>& bias, float lo, float hi, std::vector<float>& y, std::vector<float>& abs_sum) {
  y.assign(static_cast<size_t>(m) * n, 0.f);
  abs_sum.assign(y.size(), 0.f);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = bias[j], s = std::fabs(bias[j]);
      for (int p = 0; p < k; ++p) {
        double t = static_cast<double>(a[i * lda + p]) * w[static_cast<size_t>(j) * k + p];
        acc += t;
        s += std::fabs(t);
      }
      y[static_cast<size_t>(i) * n + j] = std::fmin(std::fmax(static_cast<float>(acc), lo), hi);
      abs_sum[static_cast<size_t>(i) * n + j] = static_cast<float>(s);
    }
}

// Runs table.gemm on one shape; returns "" or a description of the first mismatch.
std::string check_gemm(const KernelTable& t, int m, int n, int k, size_t lda, size_t ldc, const Clamp& cl) {
  auto a = random_vec(static_cast<size_t>(m) * lda, 1000 + m * 7 + k);
  auto w = random_vec(static_cast<size_t>(n) * k, 2000 + n * 3 + k);
  auto bias = random_vec(round_up(n, t.gemm_nr), 3000 + n);
  for (size_t j = n; j < bias.size(); ++j) bias[j] = 0.f;
  std::vector<float> packed(packed_gemm_b_size(n, k, t.gemm_nr));
  pack_gemm_b(n, k, w.data(), static_cast<size_t>(k), t.gemm_nr, packed.data());
  std::vector<float> c(static_cast<size_t>(m) * ldc, kSentinel);
  t.gemm(m, n, k, a.data(), lda, packed.data(), bias.data(), c.data(), ldc, cl.lo, cl.hi);
  std::vector<float> y, abs_sum;
  naive_gemm(m, n, k, a, lda, w, bias, cl.lo, cl.hi, y, abs_sum);
  for (int i = 0; i < m; ++i)
    for (size_t j = 0; j < ldc; ++j) {
      float got = c[i * ldc + j];
      std::ostringstream s;
      s << t.isa << " gemm m=" << m << " n=" << n << " k=" << k << " lda=" << lda << " ldc=" << ldc
        << " clamp=" << cl.name << " at (" << i << "," << j << "): ";
      if (j >= static_cast<size_t>(n)) {
        if (got != kSentinel) return s.str() + "wrote a padding lane";
        continue;
      }
      float want = y[static_cast<size_t>(i) * n + j];
      if (!(std::fabs(got - want) <= tolerance(k, abs_sum[static_cast<size_t>(i) * n + j])))
        return s.str() + "got " + std::to_string(got) + ", want " + std::to_string(want);
    }
  return "";
}

class GemmIsa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    table_ = kernels_for(GetParam());
    if (!table_) GTEST_SKIP() << "this CPU/build cannot run ISA " << GetParam();
  }
  const KernelTable* table_ = nullptr;
};

TEST_P(GemmIsa, MatchesNaiveOnTileEdgesAndOddShapes) {
  const KernelTable& t = *table_;
  const int mr = t.gemm_mr, nr = t.gemm_nr;
  std::vector<int> ms = {1, 2, 3, mr - 1, mr, mr + 1, 2 * mr, 2 * mr + 1, 4 * mr + 1, 49};
  std::vector<int> ns = {1, 3, nr - 1, nr, nr + 1, nr / 2, nr / 2 + 1, 2 * nr, 2 * nr + 5, 3 * nr - 1};
  std::vector<int> ks = {1, 2, 7, 32, 67};
  int cases = 0;
  for (int m : ms) {
    if (m < 1) continue;
    for (int n : ns) {
      if (n < 1) continue;
      for (int k : ks) {
        const Clamp& cl = kClamps[(m + n + k) % 3];
        // Odd strides on every other case: A rows and C rows wider than k and n.
        const size_t lda = k + ((m + n) % 2 ? 3 : 0), ldc = n + ((m + k) % 2 ? 5 : 0);
        std::string err = check_gemm(t, m, n, k, lda, ldc, cl);
        ASSERT_EQ(err, "");
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 400);
}

TEST_P(GemmIsa, MobileNetPointwiseShapes) {
  // One scaled-down instance of each pointwise shape class (many rows / few k; few rows / many k),
  // and long reductions (k >= 512, where AVX-512 switches back to its 6x64 tile) with odd rows
  // and column tails.
  const KernelTable& t = *table_;
  const int shapes[][3] = {{200, 32, 64}, {49, 256, 96}, {13, 27, 13}, {7, 300, 40}, {49, 512, 100}, {13, 600, 67}, {7, 1024, 130}};
  for (const auto& s : shapes)
    for (const Clamp& cl : kClamps) ASSERT_EQ(check_gemm(t, s[0], s[2], s[1], s[1], s[2], cl), "");
}

TEST_P(GemmIsa, RowChunkedShapes) {
  // A whose rows outgrow the L2 budget (m * k * 4 bytes above 512 KB on x86, 256 KB on NEON) is
  // cut into chunks of rows that each meet every weight panel (the mc loop of each GEMM): these
  // shapes take that branch on every ISA (seen failing when the chunk's first row is dropped),
  // with a ragged last chunk and column tails. k = 100 and 1100 run AVX-512's 6x64 tile, k = 200
  // its 12x32 tile.
  const KernelTable& t = *table_;
  const int shapes[][3] = {{1400, 100, 70}, {700, 200, 37}, {501, 300, 33}, {130, 1100, 45}};  // m, k, n
  for (const auto& s : shapes) {
    const size_t lda = s[1] + 3, ldc = s[2] + 5;
    ASSERT_EQ(check_gemm(t, s[0], s[2], s[1], lda, ldc, kClamps[1]), "");
  }
}

TEST_P(GemmIsa, FcMatchesNaive) {
  const KernelTable& t = *table_;
  const int nr = t.gemm_nr;
  for (int n : {1, 5, nr - 1, nr, nr + 1, 2 * nr + 3, 100})
    for (int k : {1, 3, 4, 5, 17, 256, 1027}) {
      if (n < 1) continue;
      auto x = random_vec(k, 11 + k);
      auto w = random_vec(static_cast<size_t>(n) * k, 12 + n);
      auto bias = random_vec(round_up(n, nr), 13);
      for (size_t j = n; j < bias.size(); ++j) bias[j] = 0.f;
      std::vector<float> packed(packed_gemm_b_size(n, k, nr));
      pack_gemm_b(n, k, w.data(), k, nr, packed.data());
      for (const Clamp& cl : kClamps) {
        std::vector<float> out(n + 3, kSentinel), y, abs_sum;
        t.fc(n, k, x.data(), packed.data(), bias.data(), out.data(), cl.lo, cl.hi);
        naive_gemm(1, n, k, x, k, w, bias, cl.lo, cl.hi, y, abs_sum);
        for (int j = 0; j < n; ++j)
          ASSERT_NEAR(out[j], y[j], tolerance(k, abs_sum[j]))
              << t.isa << " fc n=" << n << " k=" << k << " clamp=" << cl.name << " j=" << j;
        for (int j = n; j < n + 3; ++j) ASSERT_EQ(out[j], kSentinel) << t.isa << " fc wrote past n=" << n;
      }
    }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, GemmIsa, ::testing::Values("ref", "avx2", "avx512", "neon"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(GemmPacking, PanelsAreZeroPaddedAndHoldTheWeights) {
  const int n = 5, k = 3, nr = 4;
  std::vector<float> w(n * k);
  for (int i = 0; i < n * k; ++i) w[i] = static_cast<float>(i + 1);  // w[j][p] = j*k + p + 1
  std::vector<float> packed(packed_gemm_b_size(n, k, nr), -1.f);
  ASSERT_EQ(packed.size(), 8u * 3u);
  pack_gemm_b(n, k, w.data(), k, nr, packed.data());
  for (int j = 0; j < 8; ++j)
    for (int p = 0; p < k; ++p) {
      float v = packed[(j / nr) * k * nr + p * nr + j % nr];
      EXPECT_EQ(v, j < n ? w[j * k + p] : 0.f) << "j=" << j << " p=" << p;
    }
}

}  // namespace
