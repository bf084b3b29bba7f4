// test_kernel_conv.cpp - standard convolution (each ISA's direct 3x3 kernel, or im2col + its
// GEMM) against the scalar general convolution, and that reference against a direct NCHW definition written here.
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
constexpr float kSentinel = 4242.f;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

struct Case {
  int ih, iw, cin, cout, kernel, stride, pad;
  size_t in_cs, out_cs;
  float lo, hi;
  int oh() const { return (ih + 2 * pad - kernel) / stride + 1; }
  int ow() const { return (iw + 2 * pad - kernel) / stride + 1; }
  std::string str() const {
    std::ostringstream s;
    s << "ih=" << ih << " iw=" << iw << " cin=" << cin << " cout=" << cout << " kernel=" << kernel
      << " stride=" << stride << " pad=" << pad << " in_cs=" << in_cs << " out_cs=" << out_cs << " clamp=[" << lo
      << "," << hi << "]";
    return s.str();
  }
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const int sizes[][2] = {{1, 1}, {3, 3}, {5, 4}, {8, 8}, {9, 13}, {16, 16}};
  int i = 0;
  for (const auto& hw : sizes)
    for (int cin : {1, 3, 4, 13})
      for (int cout : {1, 8, 13, 32, 33, 64, 70})
        for (int kernel : {1, 3})
          for (int stride : {1, 2}) {
            const int pad = kernel == 3 ? (i % 4 == 3 ? 0 : 1) : 0;
            if (hw[0] + 2 * pad < kernel || hw[1] + 2 * pad < kernel) continue;
            ++i;
            Case c{hw[0], hw[1], cin, cout, kernel, stride, pad, static_cast<size_t>(cin + (i % 2 ? 3 : 0)),
                   static_cast<size_t>(cout + (i % 3 ? 0 : 7)), i % 3 == 0 ? 0.f : -kInf, i % 3 == 2 ? 0.5f : kInf};
            out.push_back(c);
          }
  return out;
}

class ConvIsa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    table_ = kernels_for(GetParam());
    if (!table_) GTEST_SKIP() << "this CPU/build cannot run ISA " << GetParam();
  }
  const KernelTable* table_ = nullptr;
};

TEST_P(ConvIsa, Im2colGemmMatchesReference) {
  const KernelTable& t = *table_;
  int n = 0;
  for (const Case& c : cases()) {
    auto in = random_vec(static_cast<size_t>(c.ih) * c.iw * c.in_cs, 3 + c.cin + c.ih);
    auto w = random_vec(static_cast<size_t>(c.cout) * c.cin * c.kernel * c.kernel, 4 + c.cout);
    auto bias = random_vec(round_up(c.cout, t.gemm_nr), 5);
    for (size_t j = c.cout; j < bias.size(); ++j) bias[j] = 0.f;
    const int k = c.kernel * c.kernel * c.cin;
    std::vector<float> packed(packed_gemm_b_size(c.cout, k, t.gemm_nr));
    pack_conv2d(c.cout, c.cin, c.kernel, w.data(), t.gemm_nr, packed.data());
    const size_t pixels = static_cast<size_t>(c.oh()) * c.ow();
    std::vector<float> want(pixels * c.out_cs, kSentinel), got(want.size(), kSentinel);
    f32_conv2d_nhwc__ref(in.data(), c.ih, c.iw, c.in_cs, c.cin, want.data(), c.oh(), c.ow(), c.out_cs, c.cout,
                         c.kernel, c.stride, c.pad, 1, w.data(), bias.data(), c.lo, c.hi);
    std::vector<float> scratch(conv2d_scratch_size(t, c.kernel, c.cin));
    // Two pixel ranges, as two threads would split the work.
    const int split = static_cast<int>(pixels / 3);
    conv2d_nhwc(t, in.data(), c.ih, c.iw, c.in_cs, c.cin, got.data(), c.ow(), c.out_cs, c.cout, c.kernel, c.stride,
                c.pad, 0, split, packed.data(), bias.data(), c.lo, c.hi, scratch.data());
    conv2d_nhwc(t, in.data(), c.ih, c.iw, c.in_cs, c.cin, got.data() + split * c.out_cs, c.ow(), c.out_cs, c.cout,
                c.kernel, c.stride, c.pad, split, static_cast<int>(pixels), packed.data(), bias.data(), c.lo, c.hi,
                scratch.data());
    for (size_t p = 0; p < pixels; ++p)
      for (size_t ch = 0; ch < c.out_cs; ++ch) {
        float g = got[p * c.out_cs + ch], wv = want[p * c.out_cs + ch];
        if (ch >= static_cast<size_t>(c.cout)) {
          ASSERT_EQ(g, kSentinel) << t.isa << " wrote a padding lane: " << c.str();
          continue;
        }
        // k <= 117 products of values in [-1, 1]: 2 k eps bound.
        ASSERT_NEAR(g, wv, 2.f * (k + 1) * 6e-8f * (k + 1) + 1e-6f) << t.isa << " " << c.str() << " pixel " << p << " ch " << ch;
      }
    ++n;
  }
  EXPECT_GT(n, 300);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ConvIsa, ::testing::Values("ref", "avx2", "avx512", "neon"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// The NHWC reference against a direct NCHW convolution written from the definition, with groups.
TEST(ConvReference, MatchesNchwDefinitionWithGroups) {
  const int ih = 7, iw = 6, cin = 6, cout = 9, kernel = 3, stride = 2, pad = 1, groups = 3;
  const int oh = (ih + 2 * pad - kernel) / stride + 1, ow = (iw + 2 * pad - kernel) / stride + 1;
  auto x = random_vec(static_cast<size_t>(cin) * ih * iw, 1);  // NCHW
  auto w = random_vec(static_cast<size_t>(cout) * (cin / groups) * kernel * kernel, 2);
  auto b = random_vec(cout, 3);
  std::vector<float> x_nhwc(x.size());
  f32_nchw_to_nhwc__ref(x.data(), cin, ih * iw, x_nhwc.data(), cin);
  std::vector<float> y(static_cast<size_t>(oh) * ow * cout);
  f32_conv2d_nhwc__ref(x_nhwc.data(), ih, iw, cin, cin, y.data(), oh, ow, cout, cout, kernel, stride, pad, groups,
                       w.data(), b.data(), -kInf, kInf);
  const int cg = cin / groups, og = cout / groups;
  for (int co = 0; co < cout; ++co)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        double acc = b[co];
        for (int ci = 0; ci < cg; ++ci)
          for (int ky = 0; ky < kernel; ++ky)
            for (int kx = 0; kx < kernel; ++kx) {
              int yy = oy * stride + ky - pad, xx = ox * stride + kx - pad;
              if (yy < 0 || yy >= ih || xx < 0 || xx >= iw) continue;
              acc += static_cast<double>(x[((co / og) * cg + ci) * ih * iw + yy * iw + xx]) *
                     w[((co * cg + ci) * kernel + ky) * kernel + kx];
            }
        EXPECT_NEAR(y[(oy * ow + ox) * cout + co], acc, 1e-5) << "co=" << co << " oy=" << oy << " ox=" << ox;
      }
}

TEST(ConvReference, Im2colPutsZerosInThePadding) {
  const float in[4] = {1, 2, 3, 4};  // 2x2, one channel
  std::vector<float> col(4 * 9, -1.f);
  f32_im2col_nhwc__ref(in, 2, 2, 1, 1, 2, 3, 1, 1, 0, 4, col.data(), 9);
  // Output pixel (0,0): window rows -1..1, cols -1..1 -> only (0,0),(0,1),(1,0),(1,1) present.
  const float want0[9] = {0, 0, 0, 0, 1, 2, 0, 3, 4};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(col[i], want0[i]) << i;
  const float want3[9] = {1, 2, 0, 3, 4, 0, 0, 0, 0};  // pixel (1,1)
  for (int i = 0; i < 9; ++i) EXPECT_EQ(col[27 + i], want3[i]) << i;
}

}  // namespace
