// test_kernel_train_conv3x3.cpp - training's 3x3 stride-1 pad-1 convolution kernels, reached
// through the kernel table (KernelTable::train_conv3x3, train_conv3x3_dweight), against the
// operations written out here in double: forward (weights packed by conv3x3_pack_weights), the
// input gradient's transposed convolution (conv3x3_pack_weights_flipped) and the weight
// gradient. Odd map sizes (1x1, 3x5, 7x7, 5x9), channel counts that fill no slice (1, 3, 17),
// image ranges split as two threads would, input strides wider than one group. Tables without
// the kernels (ref, avx2, neon) must say so through the availability checks, which is what
// sends training (and TRIM_ISA=ref) to im2col + sgemm.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "framework/kernels/kernels.h"
#include "framework/layers/conv3x3_implicit.h"
#include "framework/tensor.h"  // trim::Error

namespace {

using namespace trim;
using namespace trim::conv_detail;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// in(i, ci, y, x) with zeros outside the h x w plane.
float at(const std::vector<float>& in, size_t stride, int i, int ci, int h, int w, int y, int x) {
  if (y < 0 || y >= h || x < 0 || x >= w) return 0.f;
  return in[static_cast<size_t>(i) * stride + (static_cast<size_t>(ci) * h + y) * w + x];
}

const int kMaps[][2] = {{1, 1}, {3, 5}, {7, 7}, {5, 9}};
constexpr int kImages = 3;

class TrainConv3x3Isa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    table_ = kernels::kernels_for(GetParam());
    if (!table_) GTEST_SKIP() << "this CPU/build cannot run ISA " << GetParam();
    if (!table_->train_conv3x3) {
      EXPECT_FALSE(conv3x3_implicit_available(8, *table_));
      EXPECT_FALSE(conv3x3_dweight_available(32, 8, *table_));
      GTEST_SKIP() << GetParam() << " has no training 3x3 kernel: training runs im2col + sgemm";
    }
  }
  const kernels::KernelTable* table_ = nullptr;
};

// Forward (flipped = false: a is m x 9c, out[r] = sum a[r][k] * col[k]) and the input gradient's
// transposed convolution (flipped: w is [c][m][3][3], out[r] = sum w[oc][r][8 - t] * in[oc]
// shifted by tap t), each over images [0, 1) and [1, 3) as two threads would split them.
void check_forward(const kernels::KernelTable& t, bool flipped) {
  int cases = 0;
  for (const auto& hw : kMaps)
    for (int m : {8, 24})
      for (int c : {1, 3, 17}) {
        const int h = hw[0], w = hw[1], plane = h * w;
        const size_t in_stride = static_cast<size_t>(c + 2) * plane, out_stride = static_cast<size_t>(m + 1) * plane;
        const auto in = random_vec(kImages * in_stride, 10 + m + c + plane);
        // flipped: the layer's weights [c][m][3][3] (c filters over m channels); else a: m x 9c.
        const auto wts = random_vec(static_cast<size_t>(m) * 9 * c, 20 + m * c);
        std::vector<float> packed(conv3x3_packed_floats(m, c)), panel(conv3x3_panel_floats(m, c));
        for (int tile = 0; tile < m / 8; ++tile) {
          if (flipped) conv3x3_pack_weights_flipped(packed.data(), wts.data(), m, c, tile);
          else conv3x3_pack_weights(packed.data(), wts.data(), m, c, tile);
        }
        std::vector<float> out(kImages * out_stride, 777.f);
        conv3x3_implicit(out.data(), out_stride, in.data(), in_stride, packed.data(), m, c, h, w, 0, 1, panel.data(), t);
        conv3x3_implicit(out.data(), out_stride, in.data(), in_stride, packed.data(), m, c, h, w, 1, kImages,
                         panel.data(), t);
        for (int i = 0; i < kImages; ++i)
          for (int r = 0; r < m; ++r)
            for (int y = 0; y < h; ++y)
              for (int x = 0; x < w; ++x) {
                double want = 0, abs_sum = 0;
                for (int ci = 0; ci < c; ++ci)
                  for (int tap = 0; tap < 9; ++tap) {
                    const int ky = tap / 3, kx = tap % 3;
                    const double wv = flipped ? wts[(static_cast<size_t>(ci) * m + r) * 9 + 8 - tap]
                                              : wts[static_cast<size_t>(r) * 9 * c + ci * 9 + tap];
                    const double term = wv * at(in, in_stride, i, ci, h, w, y + ky - 1, x + kx - 1);
                    want += term;
                    abs_sum += std::fabs(term);
                  }
                const float got = out[static_cast<size_t>(i) * out_stride + (static_cast<size_t>(r) * h + y) * w + x];
                ASSERT_NEAR(got, want, 2e-7 * (9 * c + 2) * abs_sum + 1e-6)
                    << t.isa << (flipped ? " flipped" : " forward") << " m=" << m << " c=" << c << " " << h << "x" << w
                    << " image " << i << " row " << r << " pixel (" << y << "," << x << ")";
              }
        // The row of the output past m (out_stride leaves one) is never written.
        for (int i = 0; i < kImages; ++i)
          for (int p = 0; p < plane; ++p)
            ASSERT_EQ(out[static_cast<size_t>(i) * out_stride + static_cast<size_t>(m) * plane + p], 777.f);
        ++cases;
      }
  EXPECT_EQ(cases, 24);
}

TEST_P(TrainConv3x3Isa, ForwardMatchesTheFormula) { check_forward(*table_, false); }
TEST_P(TrainConv3x3Isa, InputGradientMatchesTheFormula) { check_forward(*table_, true); }

// dwt[k][r] += sum over images and pixels of dy[i][r][p] * col_i[k][p], k = ci * 9 + tap.
TEST_P(TrainConv3x3Isa, WeightGradientMatchesTheFormula) {
  const kernels::KernelTable& t = *table_;
  for (const auto& hw : kMaps)
    for (int m : {32, 64})
      for (int c : {8, 16}) {
        ASSERT_TRUE(conv3x3_dweight_available(m, c, t));
        const int h = hw[0], w = hw[1], plane = h * w;
        const size_t x_stride = static_cast<size_t>(c + 1) * plane, dy_stride = static_cast<size_t>(m) * plane;
        const auto x = random_vec(kImages * x_stride, 30 + m + c + plane);
        const auto dy = random_vec(kImages * dy_stride, 40 + m + c + plane);
        const auto start = random_vec(static_cast<size_t>(9) * c * m, 50);  // it accumulates
        std::vector<float> dwt = start, scratch(conv3x3_dweight_scratch_floats(m, c, h, w));
        conv3x3_implicit_dweight(dwt.data(), dy.data(), dy_stride, x.data(), x_stride, m, c, h, w, 0, 1, scratch.data(), t);
        conv3x3_implicit_dweight(dwt.data(), dy.data(), dy_stride, x.data(), x_stride, m, c, h, w, 1, kImages,
                                 scratch.data(), t);
        for (int ci = 0; ci < c; ++ci)
          for (int tap = 0; tap < 9; ++tap)
            for (int r = 0; r < m; ++r) {
              const size_t k = static_cast<size_t>(ci) * 9 + tap;
              double want = start[k * m + r], abs_sum = std::fabs(want);
              for (int i = 0; i < kImages; ++i)
                for (int y = 0; y < h; ++y)
                  for (int xx = 0; xx < w; ++xx) {
                    const double term = static_cast<double>(dy[static_cast<size_t>(i) * dy_stride +
                                                               (static_cast<size_t>(r) * h + y) * w + xx]) *
                                        at(x, x_stride, i, ci, h, w, y + tap / 3 - 1, xx + tap % 3 - 1);
                    want += term;
                    abs_sum += std::fabs(term);
                  }
              ASSERT_NEAR(dwt[k * m + r], want, 2e-7 * (kImages * plane + 2) * abs_sum + 1e-6)
                  << t.isa << " dweight m=" << m << " c=" << c << " " << h << "x" << w << " k=" << k << " r=" << r;
            }
      }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, TrainConv3x3Isa, ::testing::Values("ref", "avx2", "avx512", "neon"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// The reference table has no training kernel, so TRIM_ISA=ref trains on im2col + sgemm, and a
// table's kernel is refused (an Error, not a crash) where its shape rules do not hold.
TEST(TrainConv3x3, ReferenceTableTakesTrainingOffTheVectorKernels) {
  const kernels::KernelTable& ref = *kernels::kernels_for("ref");
  EXPECT_EQ(ref.train_conv3x3, nullptr);
  EXPECT_EQ(ref.train_conv3x3_dweight, nullptr);
  EXPECT_FALSE(conv3x3_implicit_available(8, ref));
  EXPECT_FALSE(conv3x3_dweight_available(32, 8, ref));
  float dummy[1] = {0.f};
  EXPECT_THROW(conv3x3_implicit(dummy, 0, dummy, 0, dummy, 8, 1, 1, 1, 0, 0, dummy, ref), Error);
  if (const kernels::KernelTable* t = kernels::kernels_for("avx512")) {
    EXPECT_TRUE(conv3x3_implicit_available(8, *t));
    EXPECT_FALSE(conv3x3_implicit_available(12, *t));   // not a whole 8-row tile
    EXPECT_FALSE(conv3x3_dweight_available(48, 8, *t));  // not whole 32-filter tiles
  }
}

}  // namespace
