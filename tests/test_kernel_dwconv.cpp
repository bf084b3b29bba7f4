// test_kernel_dwconv.cpp - depthwise 3x3 kernels (stride 1 and 2, any padding, any channel
// count and channel stride) of every ISA, the scalar reference included, against the formula
// written out in the test, and the reference against the general grouped convolution
// (groups = channels), another scalar kernel.
#include <gtest/gtest.h>

#include <algorithm>
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
constexpr float kSentinel = -777.f;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

struct Case {
  int ih, iw, channels, stride, pad_top, pad_left, oh, ow;
  size_t in_cs, out_cs;
  float lo, hi;
  std::string str() const {
    std::ostringstream s;
    s << "ih=" << ih << " iw=" << iw << " C=" << channels << " stride=" << stride << " pad_top=" << pad_top
      << " pad_left=" << pad_left << " oh=" << oh << " ow=" << ow << " in_cs=" << in_cs << " out_cs=" << out_cs
      << " clamp=[" << lo << "," << hi << "]";
    return s.str();
  }
};

struct Data {
  std::vector<float> in, w_raw, w, bias;
};

Data make_data(const Case& c) {
  Data d;
  d.in = random_vec(static_cast<size_t>(c.ih) * c.iw * c.in_cs, 7 + c.ih * 31 + c.channels);
  d.w_raw = random_vec(static_cast<size_t>(c.channels) * 9, 99 + c.channels);
  d.w.assign(packed_dwconv3x3_size(c.channels), -1.f);
  pack_dwconv3x3(c.channels, d.w_raw.data(), d.w.data());
  d.bias = random_vec(round_up(c.channels, kWeightAlign), 5);
  for (size_t i = c.channels; i < d.bias.size(); ++i) d.bias[i] = 0.f;
  return d;
}

std::vector<float> run(DwConvFn f, const Case& c, const Data& d, int split = -1) {
  std::vector<float> out(static_cast<size_t>(c.oh) * c.ow * c.out_cs, kSentinel);
  if (split < 0) {
    f(d.in.data(), c.ih, c.iw, c.in_cs, out.data(), c.ow, c.out_cs, 0, c.oh, c.channels, d.w.data(), d.bias.data(),
      c.pad_top, c.pad_left, c.lo, c.hi);
  } else {  // two row ranges, as two threads would run them
    f(d.in.data(), c.ih, c.iw, c.in_cs, out.data(), c.ow, c.out_cs, 0, split, c.channels, d.w.data(),
      d.bias.data(), c.pad_top, c.pad_left, c.lo, c.hi);
    f(d.in.data(), c.ih, c.iw, c.in_cs, out.data(), c.ow, c.out_cs, split, c.oh, c.channels, d.w.data(),
      d.bias.data(), c.pad_top, c.pad_left, c.lo, c.hi);
  }
  return out;
}

// The formula in kernels.h written out directly (not the reference kernel: the "ref" ISA is one
// of the kernels checked against this), from the unpacked weights [channel][3][3], summed in
// double. Padding lanes of the output keep the sentinel.
std::vector<float> naive(const Case& c, const Data& d) {
  std::vector<float> out(static_cast<size_t>(c.oh) * c.ow * c.out_cs, kSentinel);
  for (int oy = 0; oy < c.oh; ++oy)
    for (int ox = 0; ox < c.ow; ++ox)
      for (int ch = 0; ch < c.channels; ++ch) {
        double sum = d.bias[static_cast<size_t>(ch)];
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            const int iy = oy * c.stride - c.pad_top + ky, ix = ox * c.stride - c.pad_left + kx;
            if (iy < 0 || iy >= c.ih || ix < 0 || ix >= c.iw) continue;
            sum += static_cast<double>(d.w_raw[static_cast<size_t>(ch) * 9 + ky * 3 + kx]) *
                   d.in[(static_cast<size_t>(iy) * c.iw + ix) * c.in_cs + ch];
          }
        const float v = static_cast<float>(sum);
        out[(static_cast<size_t>(oy) * c.ow + ox) * c.out_cs + ch] = std::min(std::max(v, c.lo), c.hi);
      }
  return out;
}

// "" or the first mismatch. Nine products per output: 1e-5 covers any summation order.
std::string compare(const std::vector<float>& got, const std::vector<float>& want, const Case& c, const char* what) {
  for (size_t p = 0; p < static_cast<size_t>(c.oh) * c.ow; ++p)
    for (size_t ch = 0; ch < c.out_cs; ++ch) {
      float g = got[p * c.out_cs + ch], w = want[p * c.out_cs + ch];
      bool ok = ch < static_cast<size_t>(c.channels) ? std::fabs(g - w) <= 1e-5f * (1.f + std::fabs(w)) : g == kSentinel;
      if (!ok) {
        std::ostringstream s;
        s << what << " " << c.str() << " pixel " << p << " channel " << ch << ": got " << g << ", want " << w;
        return s.str();
      }
    }
  return "";
}

std::vector<Case> cases() {
  std::vector<Case> out;
  // 30x100 and 61x45: large enough that the SIMD kernels cut the output into several tiles of
  // rows and columns (dwconv3x3_simd.h: ~16 x 20 at stride 1 within 384 input lines), with
  // ragged last tiles in both directions.
  const int sizes[][2] = {{1, 1}, {1, 5}, {2, 2}, {3, 3}, {4, 7}, {5, 5}, {7, 7}, {8, 9}, {13, 6}, {6, 14}, {5, 40}, {4, 37},
                          {30, 100}, {61, 45}};
  const int channels[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48};
  int i = 0;
  for (const auto& hw : sizes)
    for (int ch : channels)
      for (int stride : {1, 2})
        for (int pad : {0, 1, 2}) {
          Case c;
          c.ih = hw[0];
          c.iw = hw[1];
          c.channels = ch;
          c.stride = stride;
          c.pad_top = c.pad_left = pad;
          c.oh = (c.ih + 2 * pad - 3) / stride + 1;
          c.ow = (c.iw + 2 * pad - 3) / stride + 1;
          if (c.ih + 2 * pad < 3 || c.iw + 2 * pad < 3) continue;
          ++i;
          c.in_cs = ch + (i % 3 == 0 ? 5 : 0);
          c.out_cs = ch + (i % 2 == 0 ? 3 : 0);
          c.lo = i % 3 == 1 ? 0.f : -kInf;
          c.hi = i % 3 == 2 ? 0.25f : kInf;
          out.push_back(c);
          if (stride == 2 && pad == 1) {  // TensorFlow "SAME" style: padding only at the bottom/right
            Case s = c;
            s.pad_top = s.pad_left = 0;
            s.oh = (c.ih + 1) / 2;
            s.ow = (c.iw + 1) / 2;
            out.push_back(s);
          }
        }
  return out;
}

class DwConvIsa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    table_ = kernels_for(GetParam());
    if (!table_) GTEST_SKIP() << "this CPU/build cannot run ISA " << GetParam();
  }
  const KernelTable* table_ = nullptr;
};

// Every ISA, the reference included, against the formula written out (naive above).
TEST_P(DwConvIsa, MatchesTheFormula) {
  const KernelTable& t = *table_;
  int n = 0;
  for (const Case& c : cases()) {
    Data d = make_data(c);
    DwConvFn f = c.stride == 1 ? t.dwconv3x3_s1 : t.dwconv3x3_s2;
    const auto want = naive(c, d);
    ASSERT_EQ(compare(run(f, c, d), want, c, t.isa), "");
    if (c.oh > 1) {
      ASSERT_EQ(compare(run(f, c, d, c.oh / 2), want, c, "row-split"), "");
    }
    ++n;
  }
  EXPECT_GT(n, 500);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, DwConvIsa, ::testing::Values("ref", "avx2", "avx512", "neon"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// The reference depthwise kernel against the general grouped convolution (another scalar code
// path, fed the training weight layout) with groups = channels.
TEST(DwConvReference, AgreesWithGroupedConvolution) {
  for (const Case& c : cases()) {
    if (c.pad_top != c.pad_left || c.oh != (c.ih + 2 * c.pad_top - 3) / c.stride + 1) continue;
    Data d = make_data(c);
    auto got = run(c.stride == 1 ? f32_dwconv3x3_s1__ref : f32_dwconv3x3_s2__ref, c, d);
    std::vector<float> want(got.size(), kSentinel);
    f32_conv2d_nhwc__ref(d.in.data(), c.ih, c.iw, c.in_cs, c.channels, want.data(), c.oh, c.ow, c.out_cs,
                         c.channels, 3, c.stride, c.pad_top, c.channels, d.w_raw.data(), d.bias.data(), c.lo, c.hi);
    ASSERT_EQ(compare(got, want, c, "ref vs grouped conv"), "");
  }
}

TEST(DwConvReference, HandComputedCorner) {
  // 2x2 input, one channel, all weights 1, pad 1: every output sums the whole image (+ bias).
  const float in[4] = {1, 2, 3, 4}, w_raw[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  std::vector<float> w(packed_dwconv3x3_size(1)), bias(kWeightAlign, 0.f);
  bias[0] = 0.5f;
  pack_dwconv3x3(1, w_raw, w.data());
  float out[4] = {0, 0, 0, 0};
  f32_dwconv3x3_s1__ref(in, 2, 2, 1, out, 2, 1, 0, 2, 1, w.data(), bias.data(), 1, 1, -kInf, kInf);
  for (float v : out) EXPECT_FLOAT_EQ(v, 10.5f);
  f32_dwconv3x3_s1__ref(in, 2, 2, 1, out, 2, 1, 0, 2, 1, w.data(), bias.data(), 1, 1, 0.f, 6.f);
  for (float v : out) EXPECT_FLOAT_EQ(v, 6.f);
}

}  // namespace
