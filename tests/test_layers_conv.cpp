// Conv2d: hand-computed forward, forward and backward against a naive direct convolution on a
// table of shapes, finite-difference gradient checks, thread-count behaviour, errors, description
// keys; the implicit-GEMM 3x3 kernels (conv3x3_implicit.cpp) against the naive convolution, the
// per-image path and the blocked im2col path on SICK-Net's shapes and odd ones.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "framework/blas.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/conv3x3_implicit.h"
#include "tests/gradient_check.h"

namespace trim {
namespace {

class ConvTest : public ::testing::Test {
 protected:
  void SetUp() override { blas_single_threaded(); }
};

// The plain 7-loop definition, in double: out[n][o][y][x] = b[o] + sum over the group's input
// channels and the kernel window of w * in (zero outside the input).
void naive_conv(std::vector<double>& out, const Tensor& in, const Conv2d& c) {
  const int n = in.dim(0), ch = in.dim(1), h = in.dim(2), w = in.dim(3);
  const int oc = c.out_channels, k = c.kernel, s = c.stride, p = c.pad;
  const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  const int cg = ch / c.groups, ocg = oc / c.groups;
  out.assign(static_cast<size_t>(n) * oc * oh * ow, 0.0);
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < oc; ++o)
      for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
          double acc = c.has_bias ? c.bias[o] : 0.0;
          const int g = o / ocg;
          for (int ci = 0; ci < cg; ++ci)
            for (int ky = 0; ky < k; ++ky)
              for (int kx = 0; kx < k; ++kx) {
                const int iy = y * s - p + ky, ix = x * s - p + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                acc += static_cast<double>(c.weight[((static_cast<size_t>(o) * cg + ci) * k + ky) * k + kx]) *
                       in[((static_cast<size_t>(b) * ch + g * cg + ci) * h + iy) * w + ix];
              }
          out[((static_cast<size_t>(b) * oc + o) * oh + y) * ow + x] = acc;
        }
}

// The adjoint of naive_conv for a given output gradient: dx, dW, db.
void naive_conv_backward(std::vector<double>& dx, std::vector<double>& dw, std::vector<double>& db,
                         const Tensor& dy, const Tensor& in, const Conv2d& c) {
  const int n = in.dim(0), ch = in.dim(1), h = in.dim(2), w = in.dim(3);
  const int oc = c.out_channels, k = c.kernel, s = c.stride, p = c.pad;
  const int oh = dy.dim(2), ow = dy.dim(3);
  const int cg = ch / c.groups, ocg = oc / c.groups;
  dx.assign(in.numel(), 0.0);
  dw.assign(c.weight.numel(), 0.0);
  db.assign(static_cast<size_t>(oc), 0.0);
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < oc; ++o)
      for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
          const double g = dy[((static_cast<size_t>(b) * oc + o) * oh + y) * ow + x];
          db[static_cast<size_t>(o)] += g;
          const int grp = o / ocg;
          for (int ci = 0; ci < cg; ++ci)
            for (int ky = 0; ky < k; ++ky)
              for (int kx = 0; kx < k; ++kx) {
                const int iy = y * s - p + ky, ix = x * s - p + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const size_t wi = ((static_cast<size_t>(o) * cg + ci) * k + ky) * k + kx;
                const size_t xi = ((static_cast<size_t>(b) * ch + grp * cg + ci) * h + iy) * w + ix;
                dw[wi] += g * in[xi];
                dx[xi] += g * c.weight[wi];
              }
        }
}

struct ConvCase {
  int cin, cout, h, w, k, s, p, groups;
  bool bias;
  std::string str() const {
    std::ostringstream o;
    o << "cin=" << cin << " cout=" << cout << " in=" << h << "x" << w << " k=" << k << " stride=" << s
      << " pad=" << p << " groups=" << groups << " bias=" << bias;
    return o.str();
  }
};

// |a - b| within a float-rounding budget scaled by the magnitude of the sum (the GEMM sums in
// a different order from the naive loop).
::testing::AssertionResult near_all(const Tensor& got, const std::vector<double>& want, const std::string& what) {
  if (got.numel() != want.size())
    return ::testing::AssertionFailure() << what << ": " << got.numel() << " values, expected " << want.size();
  for (size_t i = 0; i < want.size(); ++i) {
    const double tol = 1e-4 * (1.0 + std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tol))
      return ::testing::AssertionFailure() << what << ": element " << i << " got " << got[i] << " expected "
                                           << want[i];
  }
  return ::testing::AssertionSuccess();
}

TEST_F(ConvTest, HandComputed3x3With2x2Kernel) {
  Conv2d c(1, 2, 1, 0, 1, false);
  c.set_name("hand");
  EXPECT_EQ(c.setup(Shape{1, 3, 3}), (Shape{1, 2, 2}));
  // input 1 2 3 / 4 5 6 / 7 8 9, kernel 1 2 / 3 4
  for (int i = 0; i < 4; ++i) c.weight[i] = static_cast<float>(i + 1);
  Tensor x(Shape{1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x[i] = static_cast<float>(i + 1);
  Tensor y;
  Context ctx;
  c.forward(y, x, ctx);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(y[0], 1 * 1 + 2 * 2 + 4 * 3 + 5 * 4);  // 37
  EXPECT_FLOAT_EQ(y[1], 2 * 1 + 3 * 2 + 5 * 3 + 6 * 4);  // 47
  EXPECT_FLOAT_EQ(y[2], 4 * 1 + 5 * 2 + 7 * 3 + 8 * 4);  // 67
  EXPECT_FLOAT_EQ(y[3], 5 * 1 + 6 * 2 + 8 * 3 + 9 * 4);  // 77
}

TEST_F(ConvTest, HandComputedStride2Pad1WithBias) {
  // 3x3 all-ones kernel, stride 2, pad 1 on 1..9: each output sums the in-range part of its
  // window, plus the bias 0.5.
  Conv2d c(1, 3, 2, 1, 1, true);
  EXPECT_EQ(c.setup(Shape{1, 3, 3}), (Shape{1, 2, 2}));
  c.weight.fill(1.f);
  c.bias[0] = 0.5f;
  Tensor x(Shape{1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x[i] = static_cast<float>(i + 1);
  Tensor y;
  Context ctx;
  c.forward(y, x, ctx);
  EXPECT_FLOAT_EQ(y[0], 1 + 2 + 4 + 5 + 0.5f);
  EXPECT_FLOAT_EQ(y[1], 2 + 3 + 5 + 6 + 0.5f);
  EXPECT_FLOAT_EQ(y[2], 4 + 5 + 7 + 8 + 0.5f);
  EXPECT_FLOAT_EQ(y[3], 5 + 6 + 8 + 9 + 0.5f);
}

std::vector<ConvCase> reference_table() {
  std::vector<ConvCase> cases;
  for (int s : {1, 2})
    for (int p : {0, 1, 2})
      for (int k : {1, 3, 5})
        for (int g : {1, 2, 4}) {  // 4 == channels: depthwise
          const int cout = g == 4 ? 4 : 6;
          // 7x6 input: k=5 without padding still gives an output; odd and even sides.
          cases.push_back({4, cout, 7, 6, k, s, p, g, (k + s + p) % 2 == 0});
        }
  return cases;
}

const char* path_name(ConvPath p) { return p == ConvPath::Blocked ? "blocked" : "per-image"; }

TEST_F(ConvTest, MatchesNaiveConvolutionOnShapeTable) {
  for (ConvPath path : {ConvPath::Blocked, ConvPath::PerImage}) {
    SCOPED_TRACE(path_name(path));
    std::mt19937_64 rng(11);
    int checked = 0;
    for (const ConvCase& cc : reference_table()) {
      SCOPED_TRACE(cc.str());
      Conv2d c(cc.cout, cc.k, cc.s, cc.p, cc.groups, cc.bias);
      c.set_name("ref");
      c.path = path;
      c.setup(Shape{cc.cin, cc.h, cc.w});
      if (cc.groups == 4) {
        EXPECT_TRUE(c.depthwise());
      }
      gradcheck::randomize_params(c, rng);
      Tensor x(Shape{3, cc.cin, cc.h, cc.w});
      gradcheck::fill_uniform(x, rng);
      Workspace ws;
      Context ctx;
      // Alternate between the shared workspace and the layer's own buffer.
      ctx.workspace = checked % 2 ? &ws : nullptr;
      Tensor y;
      c.forward(y, x, ctx);
      std::vector<double> want;
      naive_conv(want, x, c);
      EXPECT_TRUE(near_all(y, want, "forward"));

      Tensor dy(y.shape());
      gradcheck::fill_uniform(dy, rng);
      Tensor dx;
      c.dweight.zero();
      if (cc.bias) c.dbias.zero();
      c.backward(&dx, dy, x, y, ctx);
      std::vector<double> wdx, wdw, wdb;
      naive_conv_backward(wdx, wdw, wdb, dy, x, c);
      EXPECT_TRUE(near_all(dx, wdx, "dinput"));
      EXPECT_TRUE(near_all(c.dweight, wdw, "dweight"));
      if (cc.bias) {
        EXPECT_TRUE(near_all(c.dbias, wdb, "dbias"));
      }
      ++checked;
    }
    EXPECT_EQ(checked, 54);
  }
}

// The blocked path (several images per GEMM, transposed-convolution input gradient) against the
// per-image reference, on shapes where the blocks do not divide the batch, with stride 2 (col2im
// input gradient), padding wider than the kernel allows for the transposed form, 1x1 maps,
// groups and bias, on 1 and 2 threads.
TEST_F(ConvTest, BlockedMatchesPerImageOnOddShapes) {
  struct Case {
    ConvCase cc;
    int n;
  };
  const Case cases[] = {
      {{5, 7, 7, 7, 3, 1, 1, 1, false}, 11},   // 7x7: blocks of 8, the last one 3 images
      {{4, 6, 7, 7, 3, 2, 1, 1, true}, 19},    // stride 2 (4x4 out): blocks of 16 + 3, col2im
      {{6, 5, 1, 1, 1, 1, 0, 1, true}, 300},   // 1x1 map, pointwise: blocks of 256 + 44
      {{3, 4, 1, 1, 3, 1, 1, 1, false}, 7},    // 1x1 map under a padded 3x3 kernel
      {{4, 6, 5, 6, 1, 1, 1, 1, true}, 9},     // pad 1 on a 1x1 kernel: no transposed form
      {{6, 4, 9, 8, 3, 1, 1, 2, true}, 6},     // groups 2 on a 9x8 map
      {{3, 5, 9, 7, 5, 1, 2, 1, true}, 5},     // 5x5 kernel, pad 2
      {{2, 3, 8, 8, 3, 1, 0, 1, false}, 1},    // one image, no padding
      {{4, 8, 10, 9, 3, 2, 0, 2, false}, 13},  // stride 2, groups 2, no padding
  };
  const int saved = omp_get_max_threads();
  std::mt19937_64 rng(21);
  for (const Case& tc : cases) {
    const ConvCase& cc = tc.cc;
    for (int threads : {1, 2}) {
      std::ostringstream what;
      what << cc.str() << " batch=" << tc.n << " threads=" << threads;
      SCOPED_TRACE(what.str());
      omp_set_num_threads(threads);
      Conv2d c(cc.cout, cc.k, cc.s, cc.p, cc.groups, cc.bias);
      c.set_name("paths");
      c.setup(Shape{cc.cin, cc.h, cc.w});
      ASSERT_FALSE(c.depthwise());
      gradcheck::randomize_params(c, rng);
      Tensor x(Shape{tc.n, cc.cin, cc.h, cc.w});
      gradcheck::fill_uniform(x, rng);
      Workspace ws;
      Context ctx;
      ctx.workspace = &ws;
      Tensor y[2], dx[2], dw[2], db[2], dy;
      for (int run = 0; run < 2; ++run) {
        c.path = run == 0 ? ConvPath::PerImage : ConvPath::Blocked;
        c.forward(y[run], x, ctx);
        if (run == 0) {
          dy = Tensor(y[0].shape());
          gradcheck::fill_uniform(dy, rng);
        }
        c.dweight.zero();
        if (cc.bias) c.dbias.zero();
        c.backward(&dx[run], dy, x, y[run], ctx);
        dw[run] = c.dweight;
        if (cc.bias) db[run] = c.dbias;
      }
      std::vector<double> want(y[0].begin(), y[0].end());
      EXPECT_TRUE(near_all(y[1], want, "forward"));
      want.assign(dx[0].begin(), dx[0].end());
      EXPECT_TRUE(near_all(dx[1], want, "dinput"));
      want.assign(dw[0].begin(), dw[0].end());
      EXPECT_TRUE(near_all(dw[1], want, "dweight"));
      if (cc.bias) {
        want.assign(db[0].begin(), db[0].end());
        EXPECT_TRUE(near_all(db[1], want, "dbias"));
      }
    }
  }
  omp_set_num_threads(saved);
}

TEST_F(ConvTest, OneAndTwoThreadsAgree) {
  if (omp_get_max_threads() < 2) omp_set_num_threads(2);
  const int saved = omp_get_max_threads();
  std::mt19937_64 rng(5);
  // Each case is several times above the size below which the layer stays on one thread.
  for (const ConvCase& cc : {ConvCase{8, 8, 16, 14, 3, 1, 1, 1, true}, ConvCase{12, 12, 20, 18, 3, 2, 1, 2, false},
                             ConvCase{32, 32, 24, 20, 3, 2, 1, 32, true}, ConvCase{16, 16, 16, 14, 1, 1, 0, 1, true}}) {
    SCOPED_TRACE(cc.str());
    Conv2d c(cc.cout, cc.k, cc.s, cc.p, cc.groups, cc.bias);
    c.setup(Shape{cc.cin, cc.h, cc.w});
    gradcheck::randomize_params(c, rng);
    Tensor x(Shape{5, cc.cin, cc.h, cc.w});  // 5 images: uneven split over 2 threads
    gradcheck::fill_uniform(x, rng);
    Workspace ws;
    Context ctx;
    ctx.workspace = &ws;
    Tensor dy;
    Tensor y[3], dx[3], dw[3];
    const int threads[3] = {1, 2, 2};
    for (int run = 0; run < 3; ++run) {
      omp_set_num_threads(threads[run]);
      c.forward(y[run], x, ctx);
      if (run == 0) {
        dy = Tensor(y[0].shape());
        gradcheck::fill_uniform(dy, rng);
      }
      c.dweight.zero();
      c.backward(&dx[run], dy, x, y[run], ctx);
      dw[run] = c.dweight;
    }
    omp_set_num_threads(saved);
    std::vector<double> want, wdx, wdw, wdb;
    naive_conv(want, x, c);
    EXPECT_TRUE(near_all(y[1], want, "forward, 2 threads"));
    naive_conv_backward(wdx, wdw, wdb, dy, x, c);
    EXPECT_TRUE(near_all(dx[1], wdx, "dinput, 2 threads"));
    EXPECT_TRUE(near_all(dw[1], wdw, "dweight, 2 threads"));
    // Each image's output and input gradient is computed by one thread in one GEMM: identical.
    for (size_t i = 0; i < y[0].numel(); ++i) ASSERT_EQ(y[0][i], y[1][i]) << "output " << i;
    for (size_t i = 0; i < dx[0].numel(); ++i) ASSERT_EQ(dx[0][i], dx[1][i]) << "dinput " << i;
    // The weight gradient sums per-thread partials, so 1 and 2 threads round differently...
    for (size_t i = 0; i < dw[0].numel(); ++i)
      ASSERT_NEAR(dw[0][i], dw[1][i], 1e-5 * (1.0 + std::fabs(dw[0][i]))) << "dweight " << i;
    // ...but a fixed thread count repeats bit for bit.
    for (size_t i = 0; i < dw[1].numel(); ++i) ASSERT_EQ(dw[1][i], dw[2][i]) << "dweight repeat " << i;
  }
}

std::vector<ConvCase> gradient_table() {
  return {
      {3, 4, 5, 5, 3, 1, 1, 1, true},    // the common 3x3 same-padding conv
      {3, 4, 6, 6, 3, 2, 1, 1, false},   // stride 2, no bias
      {3, 4, 4, 5, 1, 1, 0, 1, true},    // 1x1: no im2col
      {3, 4, 5, 5, 1, 2, 0, 1, true},    // strided 1x1 goes through im2col
      {2, 3, 7, 5, 5, 1, 2, 1, true},    // kernel 5 on an odd 7x5 input
      {2, 3, 7, 5, 3, 2, 0, 1, true},    // odd input, stride 2, no padding
      {4, 6, 5, 4, 3, 1, 1, 2, true},    // groups 2
      {4, 6, 5, 4, 1, 1, 0, 2, false},   // grouped 1x1
      {4, 4, 6, 5, 3, 1, 1, 4, true},    // depthwise stride 1
      {4, 4, 7, 6, 3, 2, 1, 4, false},   // depthwise stride 2
      {3, 3, 7, 5, 5, 2, 2, 3, true},    // depthwise 5x5 stride 2
  };
}

// 3x3 stride-1 padding-1 convolutions with 8k filters (and 8k input channels, for the input
// gradient; 32k filters and 8k input channels per group for the weight gradient) take
// conv3x3_implicit.cpp on the blocked path. Against the naive convolution in double,
// and bit for bit against itself at 1 and 2 threads: SICK-Net's six shapes, maps smaller than a
// 32-pixel panel (one panel spans several images), 1-pixel and 1-row maps, odd sides, groups,
// bias, and input channels not a multiple of 8 (forward only; the input gradient falls back).
TEST_F(ConvTest, Implicit3x3MatchesNaiveConvolution) {
  if (!conv_detail::conv3x3_implicit_available(8)) GTEST_SKIP() << "no AVX-512F: conv3x3_implicit not used here";
  struct Case {
    ConvCase cc;
    int n;
  };
  const Case cases[] = {
      {{1, 32, 28, 28, 3, 1, 1, 1, false}, 3},    // SICK-Net conv1 (1 input channel: dX by im2col)
      {{32, 32, 28, 28, 3, 1, 1, 1, false}, 2},   // conv2
      {{32, 64, 14, 14, 3, 1, 1, 1, false}, 3},   // conv3
      {{64, 64, 14, 14, 3, 1, 1, 1, false}, 2},   // conv4
      {{64, 128, 7, 7, 3, 1, 1, 1, false}, 5},    // conv5: 49-pixel maps, panels across images
      {{128, 128, 7, 7, 3, 1, 1, 1, false}, 3},   // conv6
      {{8, 16, 3, 3, 3, 1, 1, 1, true}, 11},      // 9-pixel maps: a panel spans four images
      {{8, 8, 1, 1, 3, 1, 1, 1, true}, 37},       // 1x1 maps: only the centre tap
      {{16, 8, 1, 9, 3, 1, 1, 1, false}, 5},      // one row
      {{8, 24, 5, 7, 3, 1, 1, 1, true}, 7},       // odd sides, 3 row tiles
      {{3, 16, 6, 5, 3, 1, 1, 1, true}, 4},       // 3 input channels: dX falls back
      {{16, 16, 6, 9, 3, 1, 1, 2, true}, 3},      // groups 2 (8 per group)
      {{24, 40, 13, 11, 3, 1, 1, 1, false}, 1},   // one image, 143 pixels (4 full panels + 15)
      // The weight-gradient kernel (32k filters, 8k input channels per group): odd sides, maps
      // grouped several images per pass (7x7: 5, 1x1: 256) with a partial last group, groups.
      {{8, 32, 7, 7, 3, 1, 1, 1, true}, 13},
      {{8, 32, 1, 1, 3, 1, 1, 1, false}, 37},
      {{8, 32, 5, 7, 3, 1, 1, 1, true}, 3},
      {{16, 64, 3, 3, 3, 1, 1, 2, true}, 7},
      {{24, 32, 13, 11, 3, 1, 1, 1, false}, 2},
      {{8, 64, 2, 9, 3, 1, 1, 1, false}, 4},
  };
  std::mt19937_64 rng(31);
  const int saved = omp_get_max_threads();
  for (const Case& tc : cases) {
    const ConvCase& cc = tc.cc;
    SCOPED_TRACE(cc.str() + " batch=" + std::to_string(tc.n));
    Conv2d c(cc.cout, cc.k, cc.s, cc.p, cc.groups, cc.bias);
    c.set_name("implicit");
    c.setup(Shape{cc.cin, cc.h, cc.w});
    gradcheck::randomize_params(c, rng);
    Tensor x(Shape{tc.n, cc.cin, cc.h, cc.w});
    gradcheck::fill_uniform(x, rng);
    Workspace ws;
    Context ctx;
    ctx.workspace = &ws;
    Tensor y[2], dx[2], dy;
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      Tensor& yt = y[threads - 1];
      c.forward(yt, x, ctx);
      if (threads == 1) {
        dy = Tensor(yt.shape());
        gradcheck::fill_uniform(dy, rng);
      }
      c.dweight.zero();
      if (cc.bias) c.dbias.zero();
      c.backward(&dx[threads - 1], dy, x, yt, ctx);
    }
    omp_set_num_threads(saved);
    std::vector<double> want, wdx, wdw, wdb;
    naive_conv(want, x, c);
    EXPECT_TRUE(near_all(y[0], want, "forward"));
    naive_conv_backward(wdx, wdw, wdb, dy, x, c);
    EXPECT_TRUE(near_all(dx[0], wdx, "dinput"));
    EXPECT_TRUE(near_all(c.dweight, wdw, "dweight"));
    // Each output is one dot product in a fixed order, whatever thread computes it.
    for (size_t i = 0; i < y[0].numel(); ++i) ASSERT_EQ(y[0][i], y[1][i]) << "forward, 1 vs 2 threads, element " << i;
    for (size_t i = 0; i < dx[0].numel(); ++i) ASSERT_EQ(dx[0][i], dx[1][i]) << "dinput, 1 vs 2 threads, element " << i;

    // The same layer through the per-image reference and blocked im2col + sgemm.
    const Tensor dw_fast = c.dweight;
    for (int run = 0; run < 2; ++run) {
      const std::string other = run == 0 ? " against the per-image path" : " against blocked im2col + sgemm";
      c.path = run == 0 ? ConvPath::PerImage : ConvPath::Blocked;
      c.use_implicit_3x3 = false;
      Tensor y_ref, dx_ref;
      c.forward(y_ref, x, ctx);
      c.dweight.zero();
      c.backward(&dx_ref, dy, x, y_ref, ctx);
      std::vector<double> ref(y_ref.begin(), y_ref.end());
      EXPECT_TRUE(near_all(y[0], ref, "forward" + other));
      ref.assign(dx_ref.begin(), dx_ref.end());
      EXPECT_TRUE(near_all(dx[0], ref, "dinput" + other));
      ref.assign(c.dweight.begin(), c.dweight.end());
      EXPECT_TRUE(near_all(dw_fast, ref, "dweight" + other));
    }
    c.use_implicit_3x3 = true;
  }
}

TEST_F(ConvTest, Implicit3x3GradientCheck) {
  if (!conv_detail::conv3x3_implicit_available(8)) GTEST_SKIP() << "no AVX-512F: conv3x3_implicit not used here";
  std::mt19937_64 rng(32);
  for (ConvCase cc : {ConvCase{8, 8, 5, 6, 3, 1, 1, 1, true}, ConvCase{16, 8, 3, 3, 3, 1, 1, 2, false},
                      ConvCase{8, 32, 4, 5, 3, 1, 1, 1, true}}) {
    Conv2d c(cc.cout, cc.k, cc.s, cc.p, cc.groups, cc.bias);
    c.set_name("implicit_grad");
    c.setup(Shape{cc.cin, cc.h, cc.w});
    gradcheck::randomize_params(c, rng);
    Tensor x(Shape{3, cc.cin, cc.h, cc.w});
    gradcheck::fill_uniform(x, rng);
    gradcheck::Config cfg;
    EXPECT_TRUE(gradcheck::check_layer(c, x, cfg, cc.str()));
  }
}

TEST_F(ConvTest, GradientCheck) {
  std::mt19937_64 rng(3);
  for (const ConvCase& cc : gradient_table()) {
    Conv2d c(cc.cout, cc.k, cc.s, cc.p, cc.groups, cc.bias);
    c.set_name("gc");
    c.setup(Shape{cc.cin, cc.h, cc.w});
    gradcheck::randomize_params(c, rng);
    Tensor x(Shape{2, cc.cin, cc.h, cc.w});
    gradcheck::fill_uniform(x, rng);
    gradcheck::Config cfg;
    EXPECT_TRUE(gradcheck::check_layer(c, x, cfg, cc.str()));
  }
}

TEST_F(ConvTest, ShapeMismatchInForwardNamesTheLayer) {
  Conv2d c(4, 3, 1, 1, 1, true);
  c.set_name("conv_mismatch");
  c.setup(Shape{3, 8, 8});
  Tensor x(Shape{2, 3, 8, 9}), y;
  Context ctx;
  try {
    c.forward(y, x, ctx);
    FAIL() << "forward accepted a 8x9 input for an 8x8 layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv_mismatch"), std::string::npos) << e.what();
  }
  Tensor x3(Shape{3, 8, 8});  // rank 3: the batch dimension is missing
  EXPECT_THROW(c.forward(y, x3, ctx), Error);
}

TEST_F(ConvTest, SetupRejectsBadGroupsRankAndEmptyOutput) {
  {
    Conv2d c(4, 3, 1, 1, 2, true);
    c.set_name("conv_groups");
    try {
      c.setup(Shape{3, 8, 8});  // 3 input channels do not split into 2 groups
      FAIL() << "setup accepted groups=2 with 3 input channels";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("conv_groups"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("[3, 8, 8]"), std::string::npos) << e.what();
    }
  }
  {
    Conv2d c(3, 3, 1, 1, 2, true);  // 3 filters do not split into 2 groups
    EXPECT_THROW(c.setup(Shape{4, 8, 8}), Error);
  }
  {
    Conv2d c(4, 5, 1, 0, 1, true);  // 5x5 kernel on a 4x4 input
    EXPECT_THROW(c.setup(Shape{3, 4, 4}), Error);
    EXPECT_NO_THROW(c.setup(Shape{3, 5, 5}));
  }
  {
    Conv2d c(4, 3, 1, 1, 1, true);
    EXPECT_THROW(c.setup(Shape{3, 8}), Error);
  }
  EXPECT_THROW(Conv2d(4, 3, 0, 1, 1, true), Error);  // stride 0
  EXPECT_THROW(Conv2d(4, 3, 1, -1, 1, true), Error);  // negative pad
}

TEST_F(ConvTest, ParamsShapesMacsAndInit) {
  Conv2d c(8, 3, 2, 1, 2, true);
  EXPECT_EQ(c.setup(Shape{4, 9, 7}), (Shape{8, 5, 4}));
  EXPECT_EQ(c.in_shape(), (Shape{4, 9, 7}));
  EXPECT_EQ(c.out_shape(), (Shape{8, 5, 4}));
  EXPECT_EQ(c.weight.shape(), (Shape{8, 2, 3, 3}));
  EXPECT_EQ(c.macs(), int64_t{8} * 5 * 4 * 2 * 3 * 3);
  auto p = c.params();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "weight");
  EXPECT_TRUE(p[0].decay);
  EXPECT_EQ(p[0].grad, &c.dweight);
  EXPECT_EQ(p[1].name, "bias");
  EXPECT_EQ(p[1].value->shape(), (Shape{8}));

  Conv2d nb(8, 3, 1, 1, 1, false);
  nb.setup(Shape{4, 9, 7});
  ASSERT_EQ(nb.params().size(), 1u);
  EXPECT_TRUE(nb.bias.empty());

  // He normal: std sqrt(2 / fan_in), fan_in = in/groups * k * k.
  Conv2d big(64, 3, 1, 1, 2, true);
  big.setup(Shape{32, 4, 4});
  std::mt19937_64 rng(1);
  gradcheck::fill_uniform(big.bias, rng);
  big.init_params(rng);
  double sum = 0, sq = 0;
  for (float v : big.weight) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(big.weight.numel());  // 9216 samples: std within ~1.5%
  const double std_want = std::sqrt(2.0 / (16 * 9));
  EXPECT_NEAR(std::sqrt(sq / n - (sum / n) * (sum / n)), std_want, 0.05 * std_want);
  EXPECT_NEAR(sum / n, 0.0, 0.05 * std_want);
  for (float v : big.bias) EXPECT_EQ(v, 0.f);
}

TEST_F(ConvTest, DescriptionRoundTrip) {
  LayerDesc d;
  d.type = "conv";
  d.kv = {{"filters", "16"}, {"size", "5"}, {"stride", "2"}, {"pad", "2"}, {"groups", "4"}, {"bias", "0"}};
  auto l = make_layer(d);
  auto* c = dynamic_cast<Conv2d*>(l.get());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->out_channels, 16);
  EXPECT_EQ(c->kernel, 5);
  EXPECT_EQ(c->stride, 2);
  EXPECT_EQ(c->pad, 2);
  EXPECT_EQ(c->groups, 4);
  EXPECT_FALSE(c->has_bias);
  LayerDesc w;
  w.type = "conv";
  c->write_desc(w);
  auto again = make_layer(w);
  auto* c2 = dynamic_cast<Conv2d*>(again.get());
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->out_channels, 16);
  EXPECT_EQ(c2->kernel, 5);
  EXPECT_EQ(c2->stride, 2);
  EXPECT_EQ(c2->pad, 2);
  EXPECT_EQ(c2->groups, 4);
  EXPECT_FALSE(c2->has_bias);

  // Defaults, and the two required keys.
  LayerDesc m;
  m.type = "conv";
  m.kv = {{"filters", "8"}, {"size", "3"}};
  auto dflt = make_layer(m);
  auto* c3 = dynamic_cast<Conv2d*>(dflt.get());
  EXPECT_EQ(c3->stride, 1);
  EXPECT_EQ(c3->pad, 0);
  EXPECT_EQ(c3->groups, 1);
  EXPECT_TRUE(c3->has_bias);
  m.kv = {{"size", "3"}};
  EXPECT_THROW(make_layer(m), Error);
  m.kv = {{"filters", "8"}};
  EXPECT_THROW(make_layer(m), Error);
  m.kv = {{"filters", "8"}, {"size", "3"}, {"groups", "0"}};
  EXPECT_THROW(make_layer(m), Error);
}

TEST_F(ConvTest, SecondStepReusesBuffers) {
  // After the first batch nothing grows: same output storage, same workspace size.
  Conv2d c(8, 3, 1, 1, 1, true);
  c.setup(Shape{4, 10, 10});
  std::mt19937_64 rng(2);
  gradcheck::randomize_params(c, rng);
  Tensor x(Shape{4, 4, 10, 10}), y, dx;
  gradcheck::fill_uniform(x, rng);
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Train;
  ctx.workspace = &ws;
  c.forward(y, x, ctx);
  Tensor dy(y.shape());
  gradcheck::fill_uniform(dy, rng);
  c.backward(&dx, dy, x, y, ctx);
  const float* yp = y.data();
  const float* dxp = dx.data();
  const size_t cap = ws.capacity();
  EXPECT_GT(cap, 0u);
  c.forward(y, x, ctx);
  c.backward(&dx, dy, x, y, ctx);
  EXPECT_EQ(y.data(), yp);
  EXPECT_EQ(dx.data(), dxp);
  EXPECT_EQ(ws.capacity(), cap);
}

}  // namespace
}  // namespace trim
