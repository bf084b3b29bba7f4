// SGD (framework/optimizer.h) against its formulas written out here in double precision, over
// several steps with changing gradients and learning rates: plain momentum, Nesterov momentum,
// and which parameters weight decay touches (conv and linear weights; BN and biases only with
// decay_bn_and_bias). A hand-computed case pins the formulas themselves. And the training step
// (framework/train_step.h): its after-backward hook runs between backward and the update, and
// train() calls it once per batch.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "framework/optimizer.h"
#include "framework/model_file.h"
#include "framework/trainer.h"

namespace trim {
namespace {

// conv (bias) -> batchnorm -> relu -> flatten -> linear (bias): every kind of trainable
// parameter, and BN running statistics (buffers, which SGD must leave alone).
const char* kNet = R"([input]
channels=2
height=4
width=4
[conv]
name=conv
filters=3
size=3
pad=1
bias=1
[batchnorm]
name=bn
[relu]
[flatten]
[linear]
name=fc
out=5
)";

// A value that differs for every parameter, element and step, in [-1, 1].
float pattern(size_t param, size_t i, int step) {
  return static_cast<float>(std::sin(0.7 * static_cast<double>(param + 1) + 1.3 * static_cast<double>(i) +
                                     2.1 * step));
}

// Whether weight decay applies, decided here from the parameter's name alone.
bool decayed(const std::string& name, bool decay_bn_and_bias) {
  const bool weight = name == "conv.weight" || name == "fc.weight";
  return weight || decay_bn_and_bias;
}

// Runs `steps` SGD steps through Sgd and through the formulas; compares after every step.
void check_against_formulas(const SgdOptions& o, int steps) {
  Model m = model_from_desc(kNet, "net");
  m.init_params(3);
  auto params = m.params();
  std::map<std::string, std::vector<double>> w, v;  // the formulas' state, per parameter
  size_t trainable = 0;
  for (const auto& p : params) {
    if (!p.grad) continue;
    ++trainable;
    w[p.name].assign(p.value->begin(), p.value->end());
    v[p.name].assign(p.value->numel(), 0.0);
  }
  ASSERT_EQ(trainable, 6u);  // conv.weight, conv.bias, bn.gamma, bn.beta, fc.weight, fc.bias
  std::vector<std::vector<float>> buffers;
  for (const auto& p : params)
    if (!p.grad) buffers.emplace_back(p.value->begin(), p.value->end());
  Sgd sgd(m, o);
  const double mu = o.momentum, wd = o.weight_decay;
  for (int s = 0; s < steps; ++s) {
    const float lr = 0.1f / static_cast<float>(s + 1);
    for (size_t k = 0; k < params.size(); ++k) {
      if (!params[k].grad) continue;
      Tensor& g = *params[k].grad;
      for (size_t i = 0; i < g.numel(); ++i) g[i] = pattern(k, i, s);
    }
    sgd.step(lr);
    for (size_t k = 0; k < params.size(); ++k) {
      const NamedParam& p = params[k];
      if (!p.grad) continue;
      std::vector<double>& pw = w[p.name];
      std::vector<double>& pv = v[p.name];
      const double decay = decayed(p.name, o.decay_bn_and_bias) ? wd : 0.0;
      for (size_t i = 0; i < pw.size(); ++i) {
        // d = g + decay * w;  v = mu * v + d;  w -= lr * (nesterov ? d + mu * v : v)
        const double d = static_cast<double>(pattern(k, i, s)) + decay * pw[i];
        pv[i] = mu * pv[i] + d;
        pw[i] -= static_cast<double>(lr) * (o.nesterov ? d + mu * pv[i] : pv[i]);
        ASSERT_NEAR((*p.value)[i], pw[i], 2e-6 * (1 + std::fabs(pw[i])))
            << p.name << "[" << i << "] after step " << s + 1 << (o.nesterov ? " (Nesterov)" : " (momentum)")
            << " decay " << decay;
      }
    }
  }
  size_t b = 0;
  for (const auto& p : params)
    if (!p.grad) {
      for (size_t i = 0; i < p.value->numel(); ++i) ASSERT_EQ((*p.value)[i], buffers[b][i]) << p.name;
      ++b;
    }
}

TEST(Sgd, MomentumFollowsTheFormula) {
  SgdOptions o;
  o.momentum = 0.9f;
  o.nesterov = false;
  o.weight_decay = 0.01f;
  check_against_formulas(o, 5);
}

TEST(Sgd, NesterovFollowsTheFormula) {
  SgdOptions o;
  o.momentum = 0.8f;
  o.nesterov = true;
  o.weight_decay = 0.02f;
  check_against_formulas(o, 5);
}

TEST(Sgd, WeightDecayOnBnAndBiasWhenAsked) {
  SgdOptions o;
  o.momentum = 0.9f;
  o.nesterov = true;
  o.weight_decay = 0.05f;
  o.decay_bn_and_bias = true;
  check_against_formulas(o, 4);
}

TEST(Sgd, NoMomentumIsPlainGradientDescent) {
  SgdOptions o;
  o.momentum = 0.f;
  o.nesterov = false;
  o.weight_decay = 0.f;
  check_against_formulas(o, 3);
}

// Two steps worked out by hand on one decayed weight (fc.weight[0]) and one exempt bias
// (fc.bias[0]): w = 1, g = 0.5 both steps, mu = 0.9, wd = 0.1, lr = 0.1, Nesterov.
//   weight: d = 0.5 + 0.1 = 0.6, v = 0.6, w = 1 - 0.1 (0.6 + 0.54) = 0.886
//           d = 0.5 + 0.0886 = 0.5886, v = 0.54 + 0.5886 = 1.1286,
//           w = 0.886 - 0.1 (0.5886 + 1.01574) = 0.725566
//   bias:   d = 0.5, v = 0.5, w = 1 - 0.1 (0.5 + 0.45) = 0.905
//           v = 0.45 + 0.5 = 0.95, w = 0.905 - 0.1 (0.5 + 0.855) = 0.7695
TEST(Sgd, HandComputedNesterovSteps) {
  Model m = model_from_desc(kNet, "net");
  m.init_params(1);
  Tensor *w = nullptr, *dw = nullptr, *b = nullptr, *db = nullptr;
  for (auto& p : m.params()) {
    if (p.name == "fc.weight") w = p.value, dw = p.grad;
    if (p.name == "fc.bias") b = p.value, db = p.grad;
  }
  ASSERT_TRUE(w && dw && b && db);
  SgdOptions o;
  o.momentum = 0.9f;
  o.nesterov = true;
  o.weight_decay = 0.1f;
  Sgd sgd(m, o);
  (*w)[0] = 1.f;
  (*b)[0] = 1.f;
  for (int s = 0; s < 2; ++s) {
    m.zero_grad();
    (*dw)[0] = 0.5f;
    (*db)[0] = 0.5f;
    sgd.step(0.1f);
  }
  EXPECT_NEAR((*w)[0], 0.725566f, 1e-6);
  EXPECT_NEAR((*b)[0], 0.7695f, 1e-6);
}

// A batch source of random images and labels (fixed per epoch and step).
class RandomBatches : public BatchSource {
 public:
  explicit RandomBatches(size_t batches) : batches_(batches) {}
  void start_epoch(int) override { pos_ = 0; }
  void skip(size_t n) override { pos_ += n; }
  bool next(Tensor& images, std::vector<int>& labels) override {
    if (pos_ == batches_) return false;
    std::mt19937_64 rng(pos_++);
    std::normal_distribution<float> nd;
    images = Tensor(Shape{4, 2, 4, 4});
    for (float& x : images) x = nd(rng);
    labels = {0, 1, 2, 3};
    return true;
  }
  size_t batches_per_epoch() const override { return batches_; }
  size_t skipped_samples() const override { return 0; }

 private:
  size_t batches_, pos_ = 0;
};

// The hook sits between backward and the update: it sees this batch's gradients and the weights
// before the update, and what it leaves in the gradients is what SGD applies (zeroed here, with
// no momentum history and no decay: the weights must not move).
TEST(TrainStep, AfterBackwardHookRunsBetweenBackwardAndUpdate) {
  Model m = model_from_desc(kNet, "net");
  m.init_params(2);
  SgdOptions o;
  o.momentum = 0.f;
  o.weight_decay = 0.f;
  Sgd sgd(m, o);
  struct Hook : StepHooks {
    std::vector<float> before;
    double grad_norm = 0;
    int calls = 0;
    void after_backward(Model& model) override {
      ++calls;
      before.assign(model.param_block().begin(), model.param_block().end());
      grad_norm = 0;
      for (float g : model.grad_block()) grad_norm += static_cast<double>(g) * g;
      model.grad_block().zero();
    }
  } hook;
  RandomBatches data(1);
  Tensor x, dlogits;
  std::vector<int> labels;
  data.start_epoch(0);
  ASSERT_TRUE(data.next(x, labels));
  const std::vector<float> start(m.param_block().begin(), m.param_block().end());
  Workspace ws;
  Context ctx;
  ctx.workspace = &ws;
  std::mt19937_64 rng(1);
  ctx.rng = &rng;
  StepResult r = train_step(m, sgd, ctx, x, labels, 0.5f, dlogits, &hook);
  EXPECT_TRUE(r.updated);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_EQ(hook.calls, 1);
  EXPECT_GT(hook.grad_norm, 0.0) << "the hook ran before backward";
  EXPECT_EQ(hook.before, start) << "the hook ran after the update";
  EXPECT_EQ(std::vector<float>(m.param_block().begin(), m.param_block().end()), start)
      << "SGD did not apply the gradients the hook left";
  // Without the hook the same step moves the weights.
  train_step(m, sgd, ctx, x, labels, 0.5f, dlogits);
  EXPECT_NE(std::vector<float>(m.param_block().begin(), m.param_block().end()), start);
}

TEST(TrainStep, TrainCallsTheHookOncePerBatch) {
  Model m = model_from_desc(kNet, "net");
  m.init_params(2);
  struct Hook : StepHooks {
    int before = 0, after = 0;
    void before_backward(Model&) override { ++before; }
    void after_backward(Model&) override { ++after; }
  } hook;
  RandomBatches data(3);
  TrainOptions t;
  t.schedule.epochs = 2;
  t.threads = 1;
  t.progress = false;
  t.hooks = &hook;
  train(m, data, nullptr, t);
  EXPECT_EQ(hook.before, 6);
  EXPECT_EQ(hook.after, 6);
}

TEST(TrainStep, NonFiniteLossLeavesTheModelAlone) {
  Model m = model_from_desc(kNet, "net");
  m.init_params(2);
  Sgd sgd(m, SgdOptions());
  RandomBatches data(1);
  Tensor x, dlogits;
  std::vector<int> labels;
  data.start_epoch(0);
  ASSERT_TRUE(data.next(x, labels));
  x[0] = std::nanf("");
  const std::vector<float> start(m.param_block().begin(), m.param_block().end());
  Workspace ws;
  Context ctx;
  ctx.workspace = &ws;
  StepResult r = train_step(m, sgd, ctx, x, labels, 0.1f, dlogits);
  EXPECT_FALSE(r.updated);
  EXPECT_FALSE(std::isfinite(r.loss));
  EXPECT_EQ(std::vector<float>(m.param_block().begin(), m.param_block().end()), start);
}

}  // namespace
}  // namespace trim
