// test_kernel_conv3x3.cpp - each ISA's direct 3x3 convolution (the table's conv3x3, where it has
// one) called on its own against the scalar general convolution, on the shapes test_kernel_conv
// leaves out: SICK-Net's channel counts (16..128, and pruned ones that are not multiples of 4),
// tiles that mix border and interior pixels, pixel ranges that start and end mid-row, and an
// input wider than the NEON kernel's zero row (2048 floats), which takes its tap-by-tap border path.
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

constexpr float kSentinel = 4242.f;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

struct Shape3x3 {
  int ih, iw, cin, cout, stride, pad;
  size_t in_cs, out_cs;
};

void check_against_reference(const KernelTable& t, const Shape3x3& c, int pieces) {
  std::ostringstream what;
  what << t.isa << " ih=" << c.ih << " iw=" << c.iw << " cin=" << c.cin << " cout=" << c.cout << " stride=" << c.stride
       << " pad=" << c.pad << " in_cs=" << c.in_cs << " out_cs=" << c.out_cs << " pieces=" << pieces;
  const int oh = (c.ih + 2 * c.pad - 3) / c.stride + 1, ow = (c.iw + 2 * c.pad - 3) / c.stride + 1;
  auto in = random_vec(static_cast<size_t>(c.ih) * c.iw * c.in_cs, 11 + c.cin);
  auto w = random_vec(static_cast<size_t>(c.cout) * c.cin * 9, 12 + c.cout);
  auto bias = random_vec(round_up(c.cout, t.gemm_nr), 13);
  for (size_t j = c.cout; j < bias.size(); ++j) bias[j] = 0.f;
  std::vector<float> packed(packed_gemm_b_size(c.cout, 9 * c.cin, t.gemm_nr));
  pack_conv2d(c.cout, c.cin, 3, w.data(), t.gemm_nr, packed.data());
  const size_t pixels = static_cast<size_t>(oh) * ow;
  std::vector<float> want(pixels * c.out_cs, kSentinel), got(want.size(), kSentinel);
  const float lo = -0.75f, hi = 2.5f;  // a clamp that bites on both sides
  f32_conv2d_nhwc__ref(in.data(), c.ih, c.iw, c.in_cs, c.cin, want.data(), oh, ow, c.out_cs, c.cout, 3, c.stride, c.pad, 1,
                       w.data(), bias.data(), lo, hi);
  // Pieces of unequal length, so ranges begin and end in the middle of output rows.
  int p = 0;
  for (int i = 0; i < pieces; ++i) {
    const int e = i + 1 == pieces ? static_cast<int>(pixels) : std::min<int>(static_cast<int>(pixels), p + 1 + 3 * i + ow / 2);
    // The kernel's out points at pixel p (kernels.h).
    t.conv3x3(in.data(), c.ih, c.iw, c.in_cs, c.cin, got.data() + static_cast<size_t>(p) * c.out_cs, ow, c.out_cs, c.cout,
              c.stride, c.pad, p, e,
              packed.data(), bias.data(), lo, hi);
    p = e;
  }
  // Rounding bound of a sum of n = 9*cin + 1 terms in any order: n * 2^-24 * sum |term| (each
  // partial sum rounds once; FMA rounds less). sum |term| per output from the reference on |x|.
  std::vector<float> in_abs(in.size()), w_abs(w.size()), bias_abs(bias.size()), mag(want.size());
  for (size_t i = 0; i < in.size(); ++i) in_abs[i] = std::fabs(in[i]);
  for (size_t i = 0; i < w.size(); ++i) w_abs[i] = std::fabs(w[i]);
  for (size_t i = 0; i < bias.size(); ++i) bias_abs[i] = std::fabs(bias[i]);
  f32_conv2d_nhwc__ref(in_abs.data(), c.ih, c.iw, c.in_cs, c.cin, mag.data(), oh, ow, c.out_cs, c.cout, 3, c.stride, c.pad, 1,
                       w_abs.data(), bias_abs.data(), 0.f, std::numeric_limits<float>::infinity());
  const float n_terms = 9.f * c.cin + 1.f;
  for (size_t q = 0; q < pixels; ++q)
    for (size_t ch = 0; ch < c.out_cs; ++ch) {
      const float g = got[q * c.out_cs + ch], r = want[q * c.out_cs + ch];
      if (ch >= static_cast<size_t>(c.cout)) {
        ASSERT_EQ(g, kSentinel) << "wrote a padding lane: " << what.str();
        continue;
      }
      // Twice the bound: the reference's own sum rounds too.
      ASSERT_NEAR(g, r, 2.f * n_terms * 0x1p-24f * mag[q * c.out_cs + ch] + 1e-7f) << what.str() << " pixel " << q << " channel " << ch;
    }
}

class Conv3x3Isa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    table_ = kernels_for(GetParam());
    if (!table_) GTEST_SKIP() << "this CPU/build cannot run ISA " << GetParam();
    if (!table_->conv3x3) GTEST_SKIP() << GetParam() << " has no direct 3x3 kernel (im2col + GEMM, test_kernel_conv)";
  }
  const KernelTable* table_ = nullptr;
};

TEST_P(Conv3x3Isa, MatchesReferenceOnSickNetAndPrunedShapes) {
  int n = 0;
  for (int cin : {5, 8, 16, 23, 32, 64})
    for (int cout : {3, 8, 16, 21, 64})
      for (int stride : {1, 2})
        for (int pad : {0, 1}) {
          const int hw = 3 + (cin + cout + stride) % 12;  // 3..14: 1..14 output columns per row
          const size_t in_cs = round_up(cin, 4) + (cin % 3 == 0 ? 4 : 0), out_cs = round_up(cout, 4);
          check_against_reference(*table_, {hw, hw + 1, cin, cout, stride, pad, in_cs, out_cs}, 1 + n % 3);
          ++n;
        }
  EXPECT_EQ(n, 120);
}

TEST_P(Conv3x3Isa, PackedInputOneAndThreeChannels) {
  for (int cin : {1, 3})
    for (int stride : {1, 2})
      for (int hw : {1, 2, 9, 28})
        check_against_reference(*table_, {hw, hw, cin, 8 + cin, stride, 1, static_cast<size_t>(cin), 12}, 2);
}

TEST_P(Conv3x3Isa, InputWiderThanTheZeroRow) {
  check_against_reference(*table_, {4, 5, 2051, 9, 1, 1, 2052, 12}, 2);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, Conv3x3Isa, ::testing::Values("ref", "avx2", "avx512", "neon"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
