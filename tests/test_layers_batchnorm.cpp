// BatchNorm2d: train-mode normalisation, running statistics against the hand formula, eval mode,
// finite-difference gradients in both modes, errors and description keys; the fused BN + ReLU
// step (forward_relu / backward_relu) against BN then ReLU, bit for bit, and by finite
// differences; the fused model path against the unfused one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/loss.h"
#include "framework/optimizer.h"
#include "framework/threads.h"
#include "models/zoo.h"
#include "tests/gradient_check.h"

namespace trim {
namespace {

// Per-channel mean and biased variance over N, H, W, in double.
void channel_stats(const Tensor& t, int ch, double& mean, double& var) {
  const int n = t.dim(0), c = t.dim(1), hw = t.dim(2) * t.dim(3);
  double s = 0, sq = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < hw; ++j) s += t[(static_cast<size_t>(i) * c + ch) * hw + j];
  mean = s / (static_cast<double>(n) * hw);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < hw; ++j) {
      const double d = t[(static_cast<size_t>(i) * c + ch) * hw + j] - mean;
      sq += d * d;
    }
  var = sq / (static_cast<double>(n) * hw);
}

Tensor shifted_input(std::mt19937_64& rng, Shape s) {
  // Channel c has mean about 2c - 1 and spread about c + 1, so normalisation has work to do.
  Tensor x(s);
  std::normal_distribution<float> d(0.f, 1.f);
  const int c = s[1], hw = s[2] * s[3];
  for (size_t i = 0; i < x.numel(); ++i) {
    const int ch = static_cast<int>(i / hw) % c;
    x[i] = (2.f * ch - 1.f) + (ch + 1.f) * d(rng);
  }
  return x;
}

TEST(BatchNorm, TrainOutputHasZeroMeanUnitVariancePerChannel) {
  BatchNorm2d bn;
  bn.set_name("bn");
  bn.setup(Shape{3, 4, 5});
  std::mt19937_64 rng(1);
  bn.init_params(rng);
  Tensor x = shifted_input(rng, Shape{6, 3, 4, 5});
  Tensor y;
  Context ctx;
  ctx.mode = Mode::Train;
  bn.forward(y, x, ctx);
  ASSERT_EQ(y.shape(), x.shape());
  for (int ch = 0; ch < 3; ++ch) {
    double m, v, xm, xv;
    channel_stats(y, ch, m, v);
    channel_stats(x, ch, xm, xv);
    EXPECT_NEAR(m, 0.0, 1e-5) << "channel " << ch;
    // var(y) = var / (var + eps): just below 1.
    EXPECT_NEAR(v, xv / (xv + 1e-5), 1e-4) << "channel " << ch;
    EXPECT_NEAR(bn.saved_mean[ch], xm, 1e-5 * (1 + std::fabs(xm)));
    EXPECT_NEAR(bn.saved_invstd[ch], 1.0 / std::sqrt(xv + 1e-5), 1e-5);
  }

  // gamma and beta then scale and shift each channel.
  bn.gamma[1] = 3.f;
  bn.beta[1] = -2.f;
  bn.forward(y, x, ctx);
  double m, v;
  channel_stats(y, 1, m, v);
  EXPECT_NEAR(m, -2.0, 1e-4);
  EXPECT_NEAR(std::sqrt(v), 3.0, 1e-3);
}

TEST(BatchNorm, RunningStatisticsFollowTheHandFormula) {
  BatchNorm2d bn(1e-5f, 0.25f);
  bn.setup(Shape{2, 3, 3});
  std::mt19937_64 rng(2);
  bn.init_params(rng);
  bn.running_mean[0] = 0.5f;
  bn.running_mean[1] = -1.f;
  bn.running_var[0] = 2.f;
  bn.running_var[1] = 0.5f;
  Tensor x = shifted_input(rng, Shape{4, 2, 3, 3});
  Tensor y;
  Context ctx;
  ctx.mode = Mode::Train;
  bn.forward(y, x, ctx);
  const double m_count = 4 * 3 * 3;
  const double rm0[2] = {0.5, -1.0}, rv0[2] = {2.0, 0.5};
  for (int ch = 0; ch < 2; ++ch) {
    double mean, var;
    channel_stats(x, ch, mean, var);
    const double unbiased = var * m_count / (m_count - 1);
    EXPECT_NEAR(bn.running_mean[ch], 0.75 * rm0[ch] + 0.25 * mean, 1e-5) << "channel " << ch;
    EXPECT_NEAR(bn.running_var[ch], 0.75 * rv0[ch] + 0.25 * unbiased, 1e-4) << "channel " << ch;
  }
  // Eval mode leaves them alone.
  const float rm = bn.running_mean[0], rv = bn.running_var[0];
  ctx.mode = Mode::Eval;
  bn.forward(y, x, ctx);
  EXPECT_EQ(bn.running_mean[0], rm);
  EXPECT_EQ(bn.running_var[0], rv);
}

TEST(BatchNorm, EvalUsesRunningStatistics) {
  BatchNorm2d bn(1e-3f, 0.1f);
  bn.setup(Shape{2, 2, 2});
  const float g[2] = {1.5f, -0.5f}, b[2] = {0.25f, 1.f}, rm[2] = {1.f, -2.f}, rv[2] = {4.f, 0.25f};
  for (int c = 0; c < 2; ++c) {
    bn.gamma[c] = g[c];
    bn.beta[c] = b[c];
    bn.running_mean[c] = rm[c];
    bn.running_var[c] = rv[c];
  }
  std::mt19937_64 rng(3);
  Tensor x(Shape{3, 2, 2, 2});
  gradcheck::fill_uniform(x, rng, -3.f, 3.f);
  Tensor y;
  Context ctx;
  ctx.mode = Mode::Eval;
  bn.forward(y, x, ctx);
  for (size_t i = 0; i < x.numel(); ++i) {
    const int c = static_cast<int>(i / 4) % 2;
    const double want = (x[i] - rm[c]) / std::sqrt(rv[c] + 1e-3) * g[c] + b[c];
    EXPECT_NEAR(y[i], want, 1e-5 * (1 + std::fabs(want))) << "element " << i;
  }
}

TEST(BatchNorm, GradientCheckTrainMode) {
  // The batch statistics couple every sample of a channel, so the checker perturbs single
  // entries and watches the full functional over the whole batch.
  std::mt19937_64 rng(4);
  for (Shape s : {Shape{3, 3, 4, 3}, Shape{2, 2, 1, 1}, Shape{4, 5, 1, 1}}) {
    BatchNorm2d bn;
    bn.set_name("bn_train");
    bn.setup(Shape{s[1], s[2], s[3]});
    bn.init_params(rng);
    gradcheck::randomize_params(bn, rng);
    Tensor x = shifted_input(rng, s);
    gradcheck::Config cfg;
    cfg.mode = Mode::Train;
    // A 2-value channel normalises to +-1 whatever the input: its input gradient is ~0 and the
    // perturbation must stay small next to the gap between the two values.
    cfg.eps = 1e-3;
    cfg.abs_tol = 2e-3;  // float rounding of f over a 1e-3 step: ~1e-6 / 2e-3
    EXPECT_TRUE(gradcheck::check_layer(bn, x, cfg, "train, input " + s.str()));
  }
}

TEST(BatchNorm, GradientCheckEvalMode) {
  std::mt19937_64 rng(5);
  BatchNorm2d bn;
  bn.set_name("bn_eval");
  bn.setup(Shape{3, 3, 2});
  gradcheck::randomize_params(bn, rng);
  for (int c = 0; c < 3; ++c) {
    bn.running_mean[c] = 0.3f * c - 0.2f;
    bn.running_var[c] = 0.5f + c;
  }
  Tensor x = shifted_input(rng, Shape{2, 3, 3, 2});
  gradcheck::Config cfg;
  cfg.mode = Mode::Eval;
  EXPECT_TRUE(gradcheck::check_layer(bn, x, cfg, "eval, input [2, 3, 3, 2]"));
}

TEST(BatchNorm, StatisticsOfALargeMeanWithASmallSpread) {
  // One-pass statistics must not cancel: mean 1000, spread 0.01 (a naive sum of squares in
  // float would lose every digit of the variance).
  BatchNorm2d bn;
  bn.setup(Shape{2, 5, 7});
  std::mt19937_64 rng(7);
  bn.init_params(rng);
  Tensor x(Shape{9, 2, 5, 7});
  std::normal_distribution<float> d(0.f, 1.f);
  for (size_t i = 0; i < x.numel(); ++i) x[i] = (i / 35 % 2 ? -1000.f : 1000.f) + 0.01f * d(rng);
  Tensor y;
  Context ctx;
  ctx.mode = Mode::Train;
  bn.forward(y, x, ctx);
  for (int ch = 0; ch < 2; ++ch) {
    double m, v;
    channel_stats(x, ch, m, v);
    EXPECT_NEAR(bn.saved_mean[ch], m, 1e-7 * std::fabs(m)) << "channel " << ch;
    // The inputs themselves are float: 1000 + 0.01 d is rounded to 6e-5, so the variance seen
    // in double is that of the rounded values, which is what the layer must reproduce.
    EXPECT_NEAR(bn.saved_invstd[ch], 1.0 / std::sqrt(v + 1e-5), 1e-3 / std::sqrt(v + 1e-5)) << "channel " << ch;
  }
}

// BN then ReLU as two layers, and as one fused step: outputs, saved and running statistics,
// input and parameter gradients must agree bit for bit (same loops, same rounding).
void expect_fused_equals_separate(Shape s, Mode mode, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Shape one{s[1], s[2], s[3]};
  BatchNorm2d a, b;
  ReLU relu;
  a.set_name("separate");
  b.set_name("fused");
  a.setup(one);
  b.setup(one);
  relu.setup(one);
  a.init_params(rng);
  gradcheck::randomize_params(a, rng);
  for (int c = 0; c < s[1]; ++c) {
    a.running_mean[c] = 0.2f * c - 0.3f;
    a.running_var[c] = 0.5f + 0.25f * c;
  }
  for (size_t i = 0; i < a.params().size(); ++i) *b.params()[i].value = *a.params()[i].value;
  Tensor x = shifted_input(rng, s), dy(s);
  gradcheck::fill_uniform(dy, rng);
  Context ctx;
  ctx.mode = mode;
  Tensor bn_out, relu_out, fused_out, drelu, dx_sep, dx_fused;
  a.forward(bn_out, x, ctx);
  relu.forward(relu_out, bn_out, ctx);
  b.forward_relu(fused_out, x, ctx);
  const std::string what = s.str() + (mode == Mode::Train ? " train" : " eval");
  ASSERT_EQ(fused_out.shape(), relu_out.shape()) << what;
  size_t positive = 0;
  for (size_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(fused_out[i], relu_out[i]) << what << " output " << gradcheck::describe_index(s, i);
    positive += relu_out[i] > 0.f;
  }
  EXPECT_GT(positive, 0u) << what;
  EXPECT_LT(positive, x.numel()) << what;  // the mask has work to do
  for (int c = 0; c < s[1]; ++c) {
    EXPECT_EQ(a.running_mean[c], b.running_mean[c]) << what;
    EXPECT_EQ(a.running_var[c], b.running_var[c]) << what;
  }
  relu.backward(&drelu, dy, bn_out, relu_out, ctx);
  a.backward(&dx_sep, drelu, x, bn_out, ctx);
  dx_fused.resize(s);
  dx_fused.fill(1e6f);  // backward overwrites
  b.backward_relu(&dx_fused, dy, x, fused_out, ctx);
  for (size_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ(dx_fused[i], dx_sep[i]) << what << " dinput " << gradcheck::describe_index(s, i);
  for (int c = 0; c < s[1]; ++c) {
    EXPECT_EQ(a.dgamma[c], b.dgamma[c]) << what << " channel " << c;
    EXPECT_EQ(a.dbeta[c], b.dbeta[c]) << what << " channel " << c;
  }
}

TEST(BatchNorm, FusedReluEqualsBatchNormThenRelu) {
  // SICK-Net's shapes (a smaller batch), odd sizes, one pixel per plane, one channel.
  const Shape shapes[] = {Shape{4, 32, 28, 28}, Shape{3, 64, 14, 14}, Shape{5, 128, 7, 7}, Shape{3, 5, 7, 3},
                          Shape{7, 3, 1, 1},    Shape{2, 1, 9, 11},   Shape{64, 6, 3, 3}};
  uint64_t seed = 10;
  for (const Shape& s : shapes)
    for (Mode mode : {Mode::Train, Mode::Eval}) expect_fused_equals_separate(s, mode, seed++);
}

// The fused step as a layer of its own, for the gradient checker.
class FusedBnRelu : public Layer {
 public:
  BatchNorm2d bn;
  std::string type() const override { return "batchnorm+relu"; }
  Shape setup(const Shape& in) override {
    in_shape_ = out_shape_ = bn.setup(in);
    return out_shape_;
  }
  void forward(Tensor& out, const Tensor& in, Context& ctx) override { bn.forward_relu(out, in, ctx); }
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override {
    bn.backward_relu(dinput, doutput, in, out, ctx);
  }
  std::vector<ParamRef> params() override { return bn.params(); }
};

TEST(BatchNorm, FusedReluGradientCheck) {
  std::mt19937_64 rng(11);
  for (Mode mode : {Mode::Train, Mode::Eval}) {
    for (Shape s : {Shape{3, 3, 4, 3}, Shape{4, 2, 5, 5}}) {
      FusedBnRelu l;
      l.set_name("bn_relu");
      l.setup(Shape{s[1], s[2], s[3]});
      l.bn.init_params(rng);
      gradcheck::randomize_params(l, rng);
      // Beta near zero keeps about half of the values on each side of the ReLU's kink.
      for (int c = 0; c < s[1]; ++c) l.bn.beta[c] = 0.1f * c - 0.05f;
      Tensor x = shifted_input(rng, s);
      gradcheck::Config cfg;
      cfg.mode = mode;
      cfg.eps = 1e-3;
      cfg.abs_tol = 2e-3;  // as the unfused train-mode check
      EXPECT_TRUE(gradcheck::check_layer(l, x, cfg, std::string(mode == Mode::Train ? "train" : "eval") +
                                                        ", input " + s.str()));
    }
  }
}

// A few SGD steps of SICK-Net (small input), with the model's fused BN + ReLU steps and without:
// every weight, running statistic and the loss bit for bit the same, at 1 and 2 threads.
TEST(BatchNorm, ModelWithFusedStepsTrainsLikeTheLayersOneByOne) {
  for (int threads : {1, 2}) {
    ThreadScope ts(threads);
    std::vector<std::vector<float>> weights;
    for (bool fuse : {true, false}) {
      Model m = build_sicknet(1, 12, 12, 10);
      m.init_params(3);
      m.fuse_bn_relu = fuse;
      Tensor x(Shape{6, 1, 12, 12}), dlogits;
      std::mt19937_64 rng(4);
      std::normal_distribution<float> nd;
      for (float& v : x) v = nd(rng);
      std::vector<int> labels = {0, 1, 2, 3, 4, 5};
      Workspace ws;
      Context ctx;
      ctx.mode = Mode::Train;
      ctx.workspace = &ws;
      ctx.rng = &rng;
      Sgd sgd(m, SgdOptions());
      for (int step = 0; step < 3; ++step) {
        rng.seed(100 + step);
        const Tensor& logits = m.forward(x, ctx);
        softmax_cross_entropy(&dlogits, nullptr, logits, labels);
        m.zero_grad();
        m.backward(dlogits, ctx);
        sgd.step(0.05f);
      }
      ctx.mode = Mode::Eval;
      const Tensor& logits = m.forward(x, ctx);
      std::vector<float> all(logits.begin(), logits.end());
      for (auto& p : m.params()) all.insert(all.end(), p.value->begin(), p.value->end());
      weights.push_back(all);
    }
    ASSERT_EQ(weights[0].size(), weights[1].size());
    size_t differ = 0;
    for (size_t i = 0; i < weights[0].size(); ++i) differ += weights[0][i] != weights[1][i];
    EXPECT_EQ(differ, 0u) << threads << " threads: values differ between the fused and the unfused model";
  }
}

TEST(BatchNorm, ErrorsNameTheLayer) {
  BatchNorm2d bn;
  bn.set_name("bn_bad");
  bn.setup(Shape{4, 3, 3});
  Tensor x(Shape{2, 5, 3, 3}), y;
  Context ctx;
  ctx.mode = Mode::Train;
  try {
    bn.forward(y, x, ctx);
    FAIL() << "forward accepted 5 channels for a 4-channel layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bn_bad"), std::string::npos) << e.what();
  }
  // One value per channel has no batch variance (PyTorch refuses this too).
  BatchNorm2d one;
  one.setup(Shape{4, 1, 1});
  Tensor x1(Shape{1, 4, 1, 1});
  EXPECT_THROW(one.forward(y, x1, ctx), Error);
  ctx.mode = Mode::Eval;
  EXPECT_NO_THROW(one.forward(y, x1, ctx));
  EXPECT_THROW(bn.setup(Shape{4, 3}), Error);
  EXPECT_THROW(BatchNorm2d(0.f, 0.1f), Error);
  EXPECT_THROW(BatchNorm2d(1e-5f, 1.5f), Error);
}

TEST(BatchNorm, ParamsInitAndDescription) {
  BatchNorm2d bn;
  bn.setup(Shape{5, 2, 2});
  std::mt19937_64 rng(6);
  bn.init_params(rng);
  auto p = bn.params();
  ASSERT_EQ(p.size(), 4u);
  const char* names[4] = {"gamma", "beta", "running_mean", "running_var"};
  const float init[4] = {1.f, 0.f, 0.f, 1.f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p[i].name, names[i]);
    EXPECT_FALSE(p[i].decay) << names[i];
    EXPECT_EQ(p[i].value->shape(), (Shape{5})) << names[i];
    EXPECT_EQ(p[i].grad == nullptr, i >= 2) << names[i];
    for (float v : *p[i].value) EXPECT_EQ(v, init[i]) << names[i];
  }

  LayerDesc d;
  d.type = "batchnorm";
  d.kv = {{"eps", "0.001"}, {"momentum", "0.03"}};
  auto l = make_layer(d);
  auto* b = dynamic_cast<BatchNorm2d*>(l.get());
  ASSERT_NE(b, nullptr);
  EXPECT_FLOAT_EQ(b->eps, 0.001f);
  EXPECT_FLOAT_EQ(b->momentum, 0.03f);
  LayerDesc w;
  w.type = "batchnorm";
  b->write_desc(w);
  auto again = make_layer(w);
  auto* b2 = dynamic_cast<BatchNorm2d*>(again.get());
  EXPECT_EQ(b2->eps, b->eps);  // exact: written with enough digits
  EXPECT_EQ(b2->momentum, b->momentum);
}

}  // namespace
}  // namespace trim
