// ReLU, ReLU6, MaxPool2d, AvgPool2d, GlobalAvgPool, Flatten, Linear, Dropout: hand-computed
// forwards, finite-difference gradients, errors and description keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "framework/blas.h"
#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/dropout.h"
#include "framework/layers/linear.h"
#include "framework/layers/pool2d.h"
#include "tests/gradient_check.h"

// Heap allocation counter for the steady-state test at the end: the executable's malloc family
// wraps glibc's and counts while `g_count_allocs` is set (glibc only, and not under
// AddressSanitizer, which owns malloc itself).
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define TRIM_COUNT_ALLOCS 1
#include <atomic>
#include <cstdlib>
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}
static std::atomic<bool> g_count_allocs{false};
static std::atomic<long> g_allocs{0};
static void note_alloc() {
  if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
}
extern "C" {
void* malloc(size_t n) {
  note_alloc();
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  note_alloc();
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  note_alloc();
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t al, size_t n) {
  note_alloc();
  return __libc_memalign(al, n);
}
void* memalign(size_t al, size_t n) {
  note_alloc();
  return __libc_memalign(al, n);
}
int posix_memalign(void** out, size_t al, size_t n) {
  note_alloc();
  void* p = __libc_memalign(al, n);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
}
#endif

namespace trim {
namespace {

Context eval_ctx() {
  Context c;
  c.mode = Mode::Eval;
  return c;
}

// Values at least `gap` apart in a random order: no ties for max pooling, and a perturbation of
// eps < gap/2 never changes which element wins.
Tensor distinct_values(Shape s, std::mt19937_64& rng, float gap = 0.05f) {
  Tensor t(s);
  std::vector<int> order(t.numel());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const float offset = -0.5f * gap * static_cast<float>(t.numel());
  for (size_t i = 0; i < t.numel(); ++i) t[i] = offset + gap * static_cast<float>(order[i]);
  return t;
}

// Uniform magnitudes in [lo, hi) with random signs: keeps every input away from ReLU's kink.
Tensor away_from_zero(Shape s, std::mt19937_64& rng, float lo, float hi) {
  Tensor t(s);
  std::uniform_real_distribution<float> mag(lo, hi);
  std::bernoulli_distribution neg(0.5);
  for (float& v : t) v = neg(rng) ? -mag(rng) : mag(rng);
  return t;
}

template <class L>
void expect_forward_names_layer(L& layer, const Shape& bad_input, const std::string& name) {
  Tensor x(bad_input), y;
  Context ctx = eval_ctx();
  try {
    layer.forward(y, x, ctx);
    ADD_FAILURE() << name << ": forward accepted " << bad_input.str();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

// make_layer(desc) -> write_desc -> make_layer gives the same description again.
void expect_round_trip(const LayerDesc& d) {
  auto a = make_layer(d);
  LayerDesc w;
  w.type = d.type;
  a->write_desc(w);
  auto b = make_layer(w);
  LayerDesc w2;
  w2.type = d.type;
  b->write_desc(w2);
  EXPECT_EQ(w.kv, w2.kv) << d.type;
  for (const auto& kv : d.kv) EXPECT_EQ(w.get(kv.first, "<missing>"), kv.second) << d.type << " key " << kv.first;
}

// ---------------------------------------------------------------------------------------------
// Activations

TEST(Activation, ReluForwardAndGradient) {
  ReLU r;
  r.set_name("relu_t");
  EXPECT_EQ(r.setup(Shape{2, 3, 3}), (Shape{2, 3, 3}));
  Tensor x(Shape{1, 2, 3, 3}), y;
  for (size_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i) - 8.5f;
  Context ctx = eval_ctx();
  r.forward(y, x, ctx);
  for (size_t i = 0; i < x.numel(); ++i) EXPECT_EQ(y[i], std::max(x[i], 0.f));

  std::mt19937_64 rng(1);
  Tensor xs = away_from_zero(Shape{2, 2, 3, 3}, rng, 0.1f, 2.f);
  EXPECT_TRUE(gradcheck::check_layer(r, xs, gradcheck::Config(), "relu"));
  expect_forward_names_layer(r, Shape{1, 3, 3, 3}, "relu_t");
}

TEST(Activation, Relu6ForwardAndGradient) {
  ReLU6 r;
  r.set_name("relu6_t");
  r.setup(Shape{1, 4, 4});
  Tensor x(Shape{1, 1, 4, 4}), y;
  for (size_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i) - 4.25f;  // -4.25 .. 10.75
  Context ctx = eval_ctx();
  r.forward(y, x, ctx);
  for (size_t i = 0; i < x.numel(); ++i) EXPECT_EQ(y[i], std::min(std::max(x[i], 0.f), 6.f));

  // Inputs on both sides of both kinks, at least 0.1 away from 0 and 6.
  std::mt19937_64 rng(2);
  Tensor xs(Shape{2, 1, 4, 4});
  std::uniform_real_distribution<float> u(0.1f, 1.9f);
  for (size_t i = 0; i < xs.numel(); ++i) {
    const float anchors[4] = {-2.f, 0.f, 4.f, 6.f};  // (-1.9,-0.1) (0.1,1.9) (4.1,5.9) (6.1,7.9)
    xs[i] = anchors[i % 4] + u(rng);
  }
  EXPECT_TRUE(gradcheck::check_layer(r, xs, gradcheck::Config(), "relu6"));
  expect_forward_names_layer(r, Shape{1, 1, 4, 5}, "relu6_t");
}

// ---------------------------------------------------------------------------------------------
// Pools

TEST(Pool, MaxPoolKnown4x4) {
  MaxPool2d p(2, 2);
  EXPECT_EQ(p.setup(Shape{1, 4, 4}), (Shape{1, 2, 2}));
  const float in[16] = {1, 3, 2, 0,   //
                        4, 2, 8, 1,   //
                        0, -1, 5, 6,  //
                        9, 2, 7, 7.5f};
  Tensor x(Shape{1, 1, 4, 4}), y;
  std::copy(in, in + 16, x.begin());
  Context ctx = eval_ctx();
  p.forward(y, x, ctx);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y[0], 4.f);
  EXPECT_EQ(y[1], 8.f);
  EXPECT_EQ(y[2], 9.f);
  EXPECT_EQ(y[3], 7.5f);
  ASSERT_EQ(p.argmax.size(), 4u);
  EXPECT_EQ(p.argmax[0], 4);
  EXPECT_EQ(p.argmax[1], 6);
  EXPECT_EQ(p.argmax[2], 12);
  EXPECT_EQ(p.argmax[3], 15);
  // The gradient goes to the winners only.
  Tensor dy(y.shape()), dx;
  for (int i = 0; i < 4; ++i) dy[i] = static_cast<float>(10 * (i + 1));
  p.backward(&dx, dy, x, y, ctx);
  for (int i = 0; i < 16; ++i) {
    const float want = i == 4 ? 10.f : i == 6 ? 20.f : i == 12 ? 30.f : i == 15 ? 40.f : 0.f;
    EXPECT_EQ(dx[i], want) << "element " << i;
  }
}

TEST(Pool, MaxPoolPaddingIsMinusInfinity) {
  // All inputs negative: a zero-padded window would wrongly return 0 at the border.
  MaxPool2d p(3, 2, 1);
  EXPECT_EQ(p.setup(Shape{1, 3, 3}), (Shape{1, 2, 2}));
  Tensor x(Shape{1, 1, 3, 3}), y;
  for (int i = 0; i < 9; ++i) x[i] = -10.f - static_cast<float>(i);  // -10 .. -18
  Context ctx = eval_ctx();
  p.forward(y, x, ctx);
  EXPECT_EQ(y[0], -10.f);  // window rows -1..1, cols -1..1
  EXPECT_EQ(y[1], -11.f);  // cols 1..3
  EXPECT_EQ(y[2], -13.f);
  EXPECT_EQ(y[3], -14.f);
}

TEST(Pool, MaxPoolMatchesNaiveWithTies) {
  // Values from {0, 1, 2}: many ties, which must go to the first maximum in row-major window
  // order (PyTorch's rule), on the 2x2/2 fast path and the general path alike.
  std::mt19937_64 rng(13);
  std::uniform_int_distribution<int> level(0, 2);
  struct Case { int k, s, p, h, w; };
  for (Case c : {Case{2, 2, 0, 6, 8}, Case{2, 2, 0, 7, 5}, Case{3, 2, 1, 7, 6}, Case{2, 1, 1, 4, 5}, Case{3, 3, 0, 9, 7}}) {
    SCOPED_TRACE("k=" + std::to_string(c.k) + " s=" + std::to_string(c.s) + " p=" + std::to_string(c.p));
    MaxPool2d m(c.k, c.s, c.p);
    const Shape out = m.setup(Shape{3, c.h, c.w});
    Tensor x(Shape{2, 3, c.h, c.w}), y;
    for (float& v : x) v = static_cast<float>(level(rng));
    Context ctx = eval_ctx();
    m.forward(y, x, ctx);
    const int oh = out[1], ow = out[2];
    ASSERT_EQ(oh, (c.h + 2 * c.p - c.k) / c.s + 1);
    for (int pl = 0; pl < 6; ++pl)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          float best = -INFINITY;
          int arg = -1;
          for (int ky = 0; ky < c.k; ++ky)
            for (int kx = 0; kx < c.k; ++kx) {
              const int iy = oy * c.s - c.p + ky, ix = ox * c.s - c.p + kx;
              if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
              const float v = x[static_cast<size_t>(pl) * c.h * c.w + iy * c.w + ix];
              if (v > best) {
                best = v;
                arg = iy * c.w + ix;
              }
            }
          const size_t o = (static_cast<size_t>(pl) * oh + oy) * ow + ox;
          ASSERT_EQ(y[o], best) << "plane " << pl << " out (" << oy << "," << ox << ")";
          ASSERT_EQ(m.argmax[o], arg) << "plane " << pl << " out (" << oy << "," << ox << ")";
        }
  }
}

TEST(Pool, MaxPoolGradient) {
  std::mt19937_64 rng(3);
  struct Case { int k, s, p, h, w; };
  for (Case c : {Case{2, 2, 0, 6, 4}, Case{3, 2, 1, 7, 5}, Case{3, 1, 1, 5, 5}, Case{2, 2, 0, 5, 7}}) {
    MaxPool2d m(c.k, c.s, c.p);
    m.set_name("mp");
    m.setup(Shape{3, c.h, c.w});
    Tensor x = distinct_values(Shape{2, 3, c.h, c.w}, rng);
    EXPECT_TRUE(gradcheck::check_layer(m, x, gradcheck::Config(),
                                       "maxpool k=" + std::to_string(c.k) + " s=" + std::to_string(c.s) +
                                           " p=" + std::to_string(c.p) + " in " + std::to_string(c.h) + "x" +
                                           std::to_string(c.w)));
  }
}

TEST(Pool, AvgPoolExcludesPadding) {
  AvgPool2d a(3, 1, 1);
  EXPECT_EQ(a.setup(Shape{1, 3, 3}), (Shape{1, 3, 3}));
  Tensor x(Shape{1, 1, 3, 3}), y;
  for (int i = 0; i < 9; ++i) x[i] = static_cast<float>(i + 1);  // 1..9
  Context ctx = eval_ctx();
  a.forward(y, x, ctx);
  EXPECT_FLOAT_EQ(y[0], (1 + 2 + 4 + 5) / 4.f);                  // corner: 4 real cells
  EXPECT_FLOAT_EQ(y[1], (1 + 2 + 3 + 4 + 5 + 6) / 6.f);          // edge: 6 real cells
  EXPECT_FLOAT_EQ(y[4], (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9) / 9.f);  // centre
  EXPECT_FLOAT_EQ(y[8], (5 + 6 + 8 + 9) / 4.f);
}

TEST(Pool, AvgPoolGradient) {
  std::mt19937_64 rng(4);
  struct Case { int k, s, p, h, w; };
  for (Case c : {Case{3, 2, 1, 7, 5}, Case{2, 2, 0, 4, 6}, Case{3, 1, 1, 4, 3}}) {
    AvgPool2d a(c.k, c.s, c.p);
    a.setup(Shape{2, c.h, c.w});
    Tensor x(Shape{2, 2, c.h, c.w});
    gradcheck::fill_uniform(x, rng);
    EXPECT_TRUE(gradcheck::check_layer(a, x, gradcheck::Config(),
                                       "avgpool k=" + std::to_string(c.k) + " s=" + std::to_string(c.s) +
                                           " p=" + std::to_string(c.p)));
  }
}

TEST(Pool, GlobalAvgPool) {
  GlobalAvgPool g;
  g.set_name("gap");
  EXPECT_EQ(g.setup(Shape{2, 3, 2}), (Shape{2, 1, 1}));
  Tensor x(Shape{1, 2, 3, 2}), y;
  for (int i = 0; i < 12; ++i) x[i] = static_cast<float>(i);
  Context ctx = eval_ctx();
  g.forward(y, x, ctx);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 1, 1}));
  EXPECT_FLOAT_EQ(y[0], (0 + 1 + 2 + 3 + 4 + 5) / 6.f);
  EXPECT_FLOAT_EQ(y[1], (6 + 7 + 8 + 9 + 10 + 11) / 6.f);
  std::mt19937_64 rng(5);
  Tensor xs(Shape{3, 2, 3, 2});
  gradcheck::fill_uniform(xs, rng);
  EXPECT_TRUE(gradcheck::check_layer(g, xs, gradcheck::Config(), "globalavgpool"));
  expect_forward_names_layer(g, Shape{1, 3, 3, 2}, "gap");
}

TEST(Pool, SetupErrors) {
  MaxPool2d m(3, 1, 0);
  m.set_name("mp_small");
  try {
    m.setup(Shape{1, 2, 5});
    FAIL() << "a 3x3 window fitted a 2x5 input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mp_small"), std::string::npos) << e.what();
  }
  EXPECT_THROW(MaxPool2d(2, 2, 2), Error);  // pad more than half the window
  EXPECT_THROW(AvgPool2d(0, 1, 0), Error);
  AvgPool2d a(2, 2);
  EXPECT_THROW(a.setup(Shape{4, 4}), Error);
  a.set_name("ap");
  a.setup(Shape{1, 4, 4});
  expect_forward_names_layer(a, Shape{1, 1, 4, 6}, "ap");
}

// ---------------------------------------------------------------------------------------------
// Flatten and Linear

TEST(Flatten, ChannelMajorCopyAndGradient) {
  Flatten f;
  f.set_name("flat");
  EXPECT_EQ(f.setup(Shape{3, 2, 2}), (Shape{12, 1, 1}));
  std::mt19937_64 rng(6);
  Tensor x(Shape{2, 3, 2, 2}), y;
  gradcheck::fill_uniform(x, rng);
  Context ctx = eval_ctx();
  f.forward(y, x, ctx);
  ASSERT_EQ(y.shape(), (Shape{2, 12, 1, 1}));
  // Sample 1, channel 2, row 1, column 0 is feature 2*4 + 1*2 + 0 = 10 of sample 1.
  EXPECT_EQ(y[12 + 10], x[((1 * 3 + 2) * 2 + 1) * 2 + 0]);
  for (size_t i = 0; i < x.numel(); ++i) EXPECT_EQ(y[i], x[i]);
  EXPECT_TRUE(gradcheck::check_layer(f, x, gradcheck::Config(), "flatten"));
  expect_forward_names_layer(f, Shape{2, 3, 2, 3}, "flat");
}

TEST(Linear, HandComputedForward) {
  blas_single_threaded();
  Linear l(3, true);
  EXPECT_EQ(l.setup(Shape{2, 1, 1}), (Shape{3, 1, 1}));
  // W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -1, 2], x = [[1, -1], [2, 0.5]]
  for (int i = 0; i < 6; ++i) l.weight[i] = static_cast<float>(i + 1);
  l.bias[0] = 0.5f;
  l.bias[1] = -1.f;
  l.bias[2] = 2.f;
  Tensor x(Shape{2, 2, 1, 1}), y;
  x[0] = 1.f;
  x[1] = -1.f;
  x[2] = 2.f;
  x[3] = 0.5f;
  Context ctx = eval_ctx();
  l.forward(y, x, ctx);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 1, 1}));
  EXPECT_FLOAT_EQ(y[0], 1 * 1 + 2 * -1 + 0.5f);
  EXPECT_FLOAT_EQ(y[1], 3 * 1 + 4 * -1 - 1.f);
  EXPECT_FLOAT_EQ(y[2], 5 * 1 + 6 * -1 + 2.f);
  EXPECT_FLOAT_EQ(y[3], 1 * 2 + 2 * 0.5f + 0.5f);
  EXPECT_FLOAT_EQ(y[4], 3 * 2 + 4 * 0.5f - 1.f);
  EXPECT_FLOAT_EQ(y[5], 5 * 2 + 6 * 0.5f + 2.f);
  EXPECT_EQ(l.macs(), 6);
}

TEST(Linear, GradientCheck) {
  blas_single_threaded();
  std::mt19937_64 rng(7);
  for (bool bias : {true, false})
    for (int n : {1, 5}) {  // 5 rows: uneven split over 2 threads; 1 row: one thread idle
      Linear l(7, bias);
      l.set_name("fc");
      l.setup(Shape{11, 1, 1});
      gradcheck::randomize_params(l, rng);
      Tensor x(Shape{n, 11, 1, 1});
      gradcheck::fill_uniform(x, rng);
      EXPECT_TRUE(gradcheck::check_layer(l, x, gradcheck::Config(),
                                         "linear 11->7 bias=" + std::to_string(bias) + " batch " + std::to_string(n)));
    }
}

TEST(Linear, ParamsInitAndErrors) {
  Linear l(4, true);
  l.set_name("fc_err");
  try {
    l.setup(Shape{3, 2, 2});
    FAIL() << "linear accepted a 3x2x2 input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fc_err"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("flatten"), std::string::npos) << e.what();
  }
  l.setup(Shape{300, 1, 1});
  auto p = l.params();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "weight");
  EXPECT_TRUE(p[0].decay);
  EXPECT_EQ(p[0].value->shape(), (Shape{4, 300}));
  EXPECT_EQ(p[1].name, "bias");
  EXPECT_FALSE(p[1].decay);
  std::mt19937_64 rng(8);
  gradcheck::fill_uniform(l.bias, rng);
  l.init_params(rng);
  const float bound = 1.f / std::sqrt(300.f);
  float lo = 1, hi = -1;
  for (float v : l.weight) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.9f * bound);  // 1200 uniform draws reach close to both ends
  EXPECT_GT(hi, 0.9f * bound);
  for (float v : l.bias) EXPECT_EQ(v, 0.f);
  expect_forward_names_layer(l, Shape{2, 301, 1, 1}, "fc_err");
  Linear nb(4, false);
  nb.setup(Shape{3, 1, 1});
  EXPECT_EQ(nb.params().size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Dropout

TEST(Dropout, EvalIsIdentity) {
  Dropout d(0.5f);
  d.setup(Shape{4, 2, 2});
  std::mt19937_64 rng(9);
  Tensor x(Shape{3, 4, 2, 2}), y, dx;
  gradcheck::fill_uniform(x, rng);
  Context ctx = eval_ctx();  // no rng needed
  d.forward(y, x, ctx);
  for (size_t i = 0; i < x.numel(); ++i) EXPECT_EQ(y[i], x[i]);
  d.backward(&dx, x, x, y, ctx);
  for (size_t i = 0; i < x.numel(); ++i) EXPECT_EQ(dx[i], x[i]);
}

TEST(Dropout, TrainDropsAboutPAndScalesTheRest) {
  Dropout d(0.3f);
  d.set_name("drop");
  d.setup(Shape{1000, 1, 1});
  Tensor x(Shape{20, 1000, 1, 1}), y, y2;
  x.fill(2.f);
  std::mt19937_64 rng(10);
  Context ctx;
  ctx.mode = Mode::Train;
  ctx.rng = &rng;
  d.forward(y, x, ctx);
  size_t zeros = 0;
  for (size_t i = 0; i < y.numel(); ++i) {
    if (y[i] == 0.f) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(y[i], 2.f / 0.7f);
    }
  }
  // 20000 Bernoulli(0.3) draws: mean 6000, standard deviation ~65.
  EXPECT_NEAR(static_cast<double>(zeros), 6000.0, 400.0);
  // The same seed gives the same mask; the next draw a different one.
  rng.seed(10);
  d.forward(y2, x, ctx);
  for (size_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y[i], y2[i]);
  d.forward(y2, x, ctx);
  size_t differ = 0;
  for (size_t i = 0; i < y.numel(); ++i) differ += y[i] != y2[i];
  EXPECT_GT(differ, 1000u);

  ctx.rng = nullptr;
  try {
    d.forward(y, x, ctx);
    FAIL() << "train-mode dropout ran without a random generator";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("drop"), std::string::npos) << e.what();
  }
}

TEST(Dropout, GradientWithFixedMask) {
  // The checker re-seeds Context::rng before every forward, so every evaluation uses one mask.
  Dropout d(0.4f);
  d.setup(Shape{3, 4, 4});
  std::mt19937_64 rng(11);
  Tensor x(Shape{2, 3, 4, 4});
  gradcheck::fill_uniform(x, rng);
  gradcheck::Config cfg;
  cfg.mode = Mode::Train;
  EXPECT_TRUE(gradcheck::check_layer(d, x, cfg, "dropout p=0.4 train"));
  cfg.mode = Mode::Eval;
  EXPECT_TRUE(gradcheck::check_layer(d, x, cfg, "dropout p=0.4 eval"));
}

TEST(Dropout, Extremes) {
  Tensor x(Shape{2, 8, 1, 1}), y;
  x.fill(1.5f);
  std::mt19937_64 rng(12);
  Context ctx;
  ctx.mode = Mode::Train;
  ctx.rng = &rng;
  Dropout none(0.f), all(1.f);
  none.setup(Shape{8, 1, 1});
  all.setup(Shape{8, 1, 1});
  none.forward(y, x, ctx);
  for (float v : y) EXPECT_EQ(v, 1.5f);
  all.forward(y, x, ctx);
  for (float v : y) EXPECT_EQ(v, 0.f);
  EXPECT_THROW(Dropout(1.5f), Error);
  EXPECT_THROW(Dropout(-0.1f), Error);
}

// ---------------------------------------------------------------------------------------------
// Descriptions

TEST(Descriptions, RoundTripAndDefaults) {
  auto desc = [](std::string type, std::vector<std::pair<std::string, std::string>> kv) {
    LayerDesc d;
    d.type = std::move(type);
    d.kv = std::move(kv);
    return d;
  };
  expect_round_trip(desc("maxpool", {{"size", "3"}, {"stride", "2"}, {"pad", "1"}}));
  expect_round_trip(desc("avgpool", {{"size", "2"}, {"stride", "1"}, {"pad", "0"}}));
  expect_round_trip(desc("linear", {{"out", "10"}, {"bias", "0"}}));
  expect_round_trip(desc("dropout", {{"p", "0.25"}}));
  expect_round_trip(desc("relu", {}));
  expect_round_trip(desc("relu6", {}));
  expect_round_trip(desc("flatten", {}));
  expect_round_trip(desc("globalavgpool", {}));

  auto mp = make_layer(desc("maxpool", {{"size", "3"}}));
  auto* m = dynamic_cast<MaxPool2d*>(mp.get());
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->stride, 3);  // stride defaults to the window size
  EXPECT_EQ(m->pad, 0);
  auto dr = make_layer(desc("dropout", {}));
  EXPECT_FLOAT_EQ(dynamic_cast<Dropout*>(dr.get())->p, 0.5f);
  auto li = make_layer(desc("linear", {{"out", "4"}}));
  EXPECT_TRUE(dynamic_cast<Linear*>(li.get())->has_bias);

  EXPECT_THROW(make_layer(desc("maxpool", {})), Error);           // size is required
  EXPECT_THROW(make_layer(desc("linear", {})), Error);            // out is required
  EXPECT_THROW(make_layer(desc("linear", {{"out", "0"}})), Error);
  EXPECT_THROW(make_layer(desc("dropout", {{"p", "2"}})), Error);
  EXPECT_THROW(make_layer(desc("avgpool", {{"size", "2"}, {"pad", "2"}})), Error);
}

// ---------------------------------------------------------------------------------------------
// Steady state: after the first batch, a training step allocates nothing.

#ifdef TRIM_COUNT_ALLOCS
TEST(SteadyState, SecondTrainingStepDoesNotAllocate) {
  blas_single_threaded();
  // Batch 16 takes the layers' multi-threaded paths, batch 1 their serial ones.
  for (int batch : {16, 1}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    std::vector<std::unique_ptr<Layer>> layers;
    layers.emplace_back(new Conv2d(8, 3, 1, 1, 1, true));
    layers.emplace_back(new BatchNorm2d());
    layers.emplace_back(new ReLU());
    layers.emplace_back(new Conv2d(8, 3, 2, 1, 8, false));  // depthwise
    layers.emplace_back(new ReLU6());
    layers.emplace_back(new Conv2d(16, 1, 1, 0, 2, true));  // grouped 1x1: no im2col
    layers.emplace_back(new MaxPool2d(2, 2));
    layers.emplace_back(new AvgPool2d(3, 1, 1));
    layers.emplace_back(new Flatten());
    layers.emplace_back(new Linear(64, true));
    layers.emplace_back(new Dropout(0.5f));
    layers.emplace_back(new Linear(10, false));
    Shape s{3, 32, 32};
    std::mt19937_64 rng(14);
    for (size_t i = 0; i < layers.size(); ++i) {
      layers[i]->set_name("l" + std::to_string(i));
      s = layers[i]->setup(s);
      layers[i]->init_params(rng);
    }
    Tensor x(Shape{batch, 3, 32, 32});
    gradcheck::fill_uniform(x, rng);
    std::vector<Tensor> acts(layers.size()), grads(2);
    Tensor dlast;
    Workspace ws;
    Context ctx;
    ctx.mode = Mode::Train;
    ctx.workspace = &ws;
    ctx.rng = &rng;
    auto step = [&]() {
      for (size_t i = 0; i < layers.size(); ++i) layers[i]->forward(acts[i], i ? acts[i - 1] : x, ctx);
      if (dlast.numel() != acts.back().numel()) {
        dlast = Tensor(acts.back().shape());
        gradcheck::fill_uniform(dlast, rng);
      }
      const Tensor* dout = &dlast;
      for (size_t i = layers.size(); i-- > 0;) {
        Tensor* din = i ? &grads[i & 1] : nullptr;
        layers[i]->backward(din, *dout, i ? acts[i - 1] : x, acts[i], ctx);
        dout = din;
      }
    };
    step();
    g_allocs = 0;
    g_count_allocs = true;
    step();
    step();
    g_count_allocs = false;
    EXPECT_EQ(g_allocs.load(), 0);
  }
}
#endif

}  // namespace
}  // namespace trim

// Storage: every tensor is 64-byte aligned (the kernels' vector loads); blocks of 4 MB and more
// start on a 2 MB boundary so transparent huge pages can back them (tensor.cpp), and stay
// zero-filled and writable to the last element.
TEST(TensorStorage, AlignmentSmallAndHuge) {
  using trim::kHugeBlockBytes;
  using trim::kHugePageBytes;
  using trim::Shape;
  using trim::Tensor;
  for (int n : {1, 15, 17, 1000, 1 << 18}) {
    Tensor t(Shape{n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u) << n;
  }
  const int big = static_cast<int>(kHugeBlockBytes / sizeof(float)) + 5;
  Tensor t(Shape{big});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(t.data()[big - 1], 0.f);
  t.data()[big - 1] = 3.f;
  Tensor copy = t;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(copy.data()[big - 1], 3.f);
}
