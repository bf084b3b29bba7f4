// test_kernel_pool.cpp - global average pool and max pool of every ISA against the reference; the
// reference pooling, affine and layout kernels against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "framework/kernels/kernels.h"

namespace {

using namespace trim::kernels;

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

class PoolIsa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    table_ = kernels_for(GetParam());
    if (!table_) GTEST_SKIP() << "this CPU/build cannot run ISA " << GetParam();
  }
  const KernelTable* table_ = nullptr;
};

TEST_P(PoolIsa, GlobalAvgPoolMatchesReference) {
  const KernelTable& t = *table_;
  for (int pixels : {1, 2, 3, 4, 49, 50, 196})
    for (int channels : {1, 3, 4, 7, 8, 15, 16, 17, 33, 1024}) {
      const size_t cs = channels + (pixels % 2 ? 0 : 5);
      auto in = random_vec(pixels * cs, pixels + channels);
      std::vector<float> want(channels + 4, 99.f), got(channels + 4, 99.f);
      f32_global_avgpool__ref(in.data(), pixels, cs, channels, want.data());
      t.global_avgpool(in.data(), pixels, cs, channels, got.data());
      for (int c = 0; c < channels + 4; ++c)
        // Sums of up to 196 values in [-1, 1] in another order: 2 n eps.
        ASSERT_NEAR(got[c], want[c], 2.f * pixels * 6e-8f + 1e-6f)
            << t.isa << " pixels=" << pixels << " channels=" << channels << " cs=" << cs << " c=" << c;
    }
}

// Max pooling is exact, so every output must equal the reference bit for bit, and the lanes
// between `channels` and the channel stride of the output must never be written.
TEST_P(PoolIsa, MaxPoolMatchesReference) {
  const KernelTable& t = *table_;
  ASSERT_NE(t.maxpool2d, nullptr);
  const int sizes[][2] = {{1, 1}, {2, 3}, {3, 3}, {5, 9}, {7, 7}, {14, 14}, {28, 28}, {13, 6}};
  int cases = 0;
  for (const auto& hw : sizes)
    for (int channels : {1, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64})
      for (int kernel : {2, 3})
        for (int stride : {1, 2})
          for (int pad : {0, 1}) {
            const int ih = hw[0], iw = hw[1];
            if (ih + 2 * pad < kernel || iw + 2 * pad < kernel) continue;
            const int oh = (ih + 2 * pad - kernel) / stride + 1, ow = (iw + 2 * pad - kernel) / stride + 1;
            const size_t in_cs = channels + (cases % 3 == 0 ? 5 : 0), out_cs = channels + (cases % 2 == 0 ? 3 : 0);
            ++cases;
            auto in = random_vec(static_cast<size_t>(ih) * iw * in_cs, 1000 + cases);
            std::vector<float> want(static_cast<size_t>(oh) * ow * out_cs, 777.f), got(want);
            f32_maxpool2d_nhwc__ref(in.data(), ih, iw, in_cs, want.data(), oh, ow, out_cs, channels, kernel, stride, pad);
            t.maxpool2d(in.data(), ih, iw, in_cs, got.data(), oh, ow, out_cs, channels, kernel, stride, pad);
            for (size_t i = 0; i < got.size(); ++i)
              ASSERT_EQ(got[i], want[i]) << t.isa << " " << ih << "x" << iw << "x" << channels << " k" << kernel << " s"
                                         << stride << " p" << pad << " in_cs " << in_cs << " out_cs " << out_cs
                                         << " element " << i << (i % out_cs >= static_cast<size_t>(channels) ? " (padding lane)" : "");
          }
  EXPECT_GT(cases, 500);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, PoolIsa, ::testing::Values("ref", "avx2", "avx512", "neon"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(PoolReference, GlobalAvgPoolIsTheMean) {
  const float in[6] = {1, 10, 2, 20, 6, 30};  // 3 pixels x 2 channels
  float out[2];
  f32_global_avgpool__ref(in, 3, 2, 2, out);
  EXPECT_FLOAT_EQ(out[0], 3.f);
  EXPECT_FLOAT_EQ(out[1], 20.f);
}

TEST(PoolReference, MaxAndAvgPoolHandValues) {
  // 3x3 image, one channel (stride 2 to leave a padding lane per pixel), values 1..9.
  std::vector<float> in(9 * 2, -100.f);
  for (int i = 0; i < 9; ++i) in[i * 2] = static_cast<float>(i + 1);
  float out[4 * 2] = {0};
  // 2x2 windows, stride 2, asking for a 2x2 output: the windows at rows/cols 2..3 hang over the
  // edge (as in ceil mode) and pool only what is inside.
  f32_maxpool2d_nhwc__ref(in.data(), 3, 3, 2, out, 2, 2, 2, 1, 2, 2, 0);
  EXPECT_EQ(out[0], 5.f);
  EXPECT_EQ(out[2], 6.f);
  EXPECT_EQ(out[4], 8.f);
  EXPECT_EQ(out[6], 9.f);
  f32_avgpool2d_nhwc__ref(in.data(), 3, 3, 2, out, 2, 2, 2, 1, 2, 2, 0);
  EXPECT_FLOAT_EQ(out[0], (1 + 2 + 4 + 5) / 4.f);
  EXPECT_FLOAT_EQ(out[2], (3 + 6) / 2.f);  // padding excluded from the divisor
  EXPECT_FLOAT_EQ(out[6], 9.f);
  // 3x3 window, stride 1, pad 1 on a 3x3 input: centre sees all nine.
  std::vector<float> o9(9, 0.f);
  f32_maxpool2d_nhwc__ref(in.data(), 3, 3, 2, o9.data(), 3, 3, 1, 1, 3, 1, 1);
  EXPECT_EQ(o9[4], 9.f);
  EXPECT_EQ(o9[0], 5.f);
}

TEST(LayoutReference, AffineAndConversionsRoundTrip) {
  const int c = 3, pixels = 5;
  auto x = random_vec(c * pixels, 8);
  std::vector<float> nhwc(pixels * 4, 0.f), back(c * pixels, 0.f);
  f32_nchw_to_nhwc__ref(x.data(), c, pixels, nhwc.data(), 4);
  EXPECT_EQ(nhwc[1 * 4 + 2], x[2 * pixels + 1]);
  f32_nhwc_to_nchw__ref(nhwc.data(), c, pixels, 4, back.data());
  EXPECT_EQ(back, x);
  const float scale[3] = {2.f, -1.f, 0.5f}, shift[3] = {1.f, 0.f, -3.f};
  std::vector<float> y(pixels * 4, 0.f);
  f32_affine_nhwc__ref(nhwc.data(), pixels, 4, y.data(), 4, c, scale, shift, 0.f, kInf);
  for (int p = 0; p < pixels; ++p)
    for (int ch = 0; ch < c; ++ch)
      EXPECT_FLOAT_EQ(y[p * 4 + ch], std::max(0.f, nhwc[p * 4 + ch] * scale[ch] + shift[ch]));
}

}  // namespace
