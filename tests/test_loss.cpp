// softmax_cross_entropy: hand-computed values, stability with huge logits, dlogits against
// central differences of the returned loss, top-1 counting, label and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "framework/loss.h"

namespace trim {
namespace {

TEST(Loss, HandComputedValues) {
  // Two equal logits: probability 1/2 each, loss log 2.
  Tensor z(Shape{1, 2, 1, 1});
  EXPECT_NEAR(softmax_cross_entropy(nullptr, nullptr, z, {0}), std::log(2.0), 1e-6);

  // Row 0: logits (1, 2, 3), label 2: loss = log(e^1 + e^2 + e^3) - 3.
  // Row 1: logits (0, -1, 1), label 0: loss = log(1 + e^-1 + e^1) - 0.
  Tensor z2(Shape{2, 3});
  const float v[6] = {1, 2, 3, 0, -1, 1};
  for (int i = 0; i < 6; ++i) z2[i] = v[i];
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double l1 = std::log(1.0 + std::exp(-1.0) + std::exp(1.0));
  Tensor d;
  int correct = -7;
  const float loss = softmax_cross_entropy(&d, &correct, z2, {2, 0});
  EXPECT_NEAR(loss, (l0 + l1) / 2, 1e-6);
  EXPECT_EQ(correct, 1);  // row 0 predicts 2 (right), row 1 predicts 2 (wrong)
  ASSERT_EQ(d.shape(), z2.shape());
  // dlogits = (softmax - onehot) / N
  const double s0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(d[0], std::exp(1.0) / s0 / 2, 1e-7);
  EXPECT_NEAR(d[2], (std::exp(3.0) / s0 - 1) / 2, 1e-7);
  const double s1 = 1.0 + std::exp(-1.0) + std::exp(1.0);
  EXPECT_NEAR(d[3], (1.0 / s1 - 1) / 2, 1e-7);
}

TEST(Loss, StableForHugeLogits) {
  Tensor z(Shape{2, 2, 1, 1});
  z[0] = 1000.f;  // row 0: (1000, 0), label 0: loss ~0
  z[1] = 0.f;
  z[2] = -1000.f;  // row 1: (-1000, 1000), label 0: loss ~2000
  z[3] = 1000.f;
  Tensor d;
  const float loss = softmax_cross_entropy(&d, nullptr, z, {0, 0});
  ASSERT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, (0.0 + 2000.0) / 2, 1e-3);
  for (float g : d) EXPECT_TRUE(std::isfinite(g));
  EXPECT_NEAR(d[0], 0.f, 1e-7);
  EXPECT_NEAR(d[2], -0.5f, 1e-7);
  EXPECT_NEAR(d[3], 0.5f, 1e-7);
}

TEST(Loss, GradientMatchesCentralDifferences) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  const int n = 4, k = 7;
  Tensor z(Shape{n, k, 1, 1});
  for (float& v : z) v = u(rng);
  const std::vector<int> labels = {3, 0, 6, 3};
  Tensor d;
  softmax_cross_entropy(&d, nullptr, z, labels);
  double row_sum_max = 0;
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int j = 0; j < k; ++j) s += d[static_cast<size_t>(i) * k + j];
    row_sum_max = std::max(row_sum_max, std::fabs(s));
  }
  EXPECT_LT(row_sum_max, 1e-6);  // softmax sums to 1, one-hot sums to 1
  const double eps = 1e-2;
  for (size_t i = 0; i < z.numel(); ++i) {
    const float orig = z[i];
    const float up = static_cast<float>(orig + eps), down = static_cast<float>(orig - eps);
    z[i] = up;
    const double fp = softmax_cross_entropy(nullptr, nullptr, z, labels);
    z[i] = down;
    const double fm = softmax_cross_entropy(nullptr, nullptr, z, labels);
    z[i] = orig;
    const double numeric = (fp - fm) / (static_cast<double>(up) - down);
    // The loss comes back as a float (~1e-7 relative): over a 2e-2 step that is ~1e-5, and the
    // curvature term eps^2/6 * f''' is ~1e-5 too.
    EXPECT_NEAR(d[i], numeric, 1e-4 + 1e-3 * std::fabs(numeric))
        << "logit [" << i / k << "," << i % k << "] value " << orig;
  }
}

TEST(Loss, CountsCorrectTopOne) {
  Tensor z(Shape{3, 4});
  const float v[12] = {0, 5, 1, 2,  //
                       9, 1, 1, 1,  //
                       0, 0, 0, 3};
  for (int i = 0; i < 12; ++i) z[i] = v[i];
  int correct = 123;
  softmax_cross_entropy(nullptr, &correct, z, {1, 0, 2});
  EXPECT_EQ(correct, 2);  // set, not added to
  softmax_cross_entropy(nullptr, &correct, z, {1, 0, 3});
  EXPECT_EQ(correct, 3);
}

TEST(Loss, RejectsBadLabelsAndShapes) {
  Tensor z(Shape{2, 3, 1, 1});
  EXPECT_THROW(softmax_cross_entropy(nullptr, nullptr, z, {0, 3}), Error);
  EXPECT_THROW(softmax_cross_entropy(nullptr, nullptr, z, {-1, 0}), Error);
  EXPECT_THROW(softmax_cross_entropy(nullptr, nullptr, z, {0}), Error);
  try {
    softmax_cross_entropy(nullptr, nullptr, z, {0, 7});
    FAIL() << "label 7 accepted with 3 classes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("7"), std::string::npos) << e.what();
  }
  Tensor spatial(Shape{2, 3, 2, 1});
  EXPECT_THROW(softmax_cross_entropy(nullptr, nullptr, spatial, {0, 1}), Error);
  Tensor flat(Shape{6});
  EXPECT_THROW(softmax_cross_entropy(nullptr, nullptr, flat, {0}), Error);
}

}  // namespace
}  // namespace trim
