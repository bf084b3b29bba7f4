// test_engine.cpp - the deploy path against the training path: InferenceEngine output versus
// Model::forward in eval mode on SICK-Net and on small models with odd channel counts and every
// layer type, for every ISA the CPU has; the ISA paths against each other; the passes on their
// own; no allocation in run(); errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "framework/engine/engine.h"
#include "framework/engine/passes.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/model_file.h"
#include "models/zoo.h"
#include "tests/temp_dir.h"

// Counts every C++ heap allocation in this test binary (run() must make none).
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  ++g_allocations;
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace trim {
namespace {

// BN running statistics and affine parameters away from the identity, so folding is exercised.
void randomize(Model& m, uint64_t seed) {
  m.init_params(seed);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (auto& l : m.layers)
    if (auto* bn = dynamic_cast<BatchNorm2d*>(l.get()))
      for (int c = 0; c < bn->channels; ++c) {
        bn->gamma[c] = 0.5f + u(rng);
        bn->beta[c] = 0.4f * (u(rng) - 0.5f);
        bn->running_mean[c] = 0.4f * (u(rng) - 0.5f);
        bn->running_var[c] = 0.5f + u(rng);
      }
  // Biases too (the zoo's convs have none, but linear layers and test models do).
  for (auto& p : m.params())
    if (p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0)
      for (auto& v : *p.value) v = 0.2f * (u(rng) - 0.5f);
}

Tensor random_input(const Shape& in, int n, uint32_t seed) {
  Tensor x(Shape{n, in[0], in[1], in[2]});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (auto& v : x) v = u(rng);
  return x;
}

Tensor eval_forward(Model& m, const Tensor& x) {
  Context ctx;
  ctx.mode = Mode::Eval;
  return m.forward(x, ctx);
}

// Largest |a - b| relative to the output's scale. fp32 through ~30 layers whose sums run in
// another order (k up to 1152): typical relative error ~1e-6, 1e-4 leaves room without hiding
// a wrong tap or channel (those give errors of order 1).
float rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  float scale = 1.f, d = 0.f;
  for (size_t i = 0; i < b.numel(); ++i) scale = std::max(scale, std::fabs(b[i]));
  for (size_t i = 0; i < std::min(a.numel(), b.numel()); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d / scale;
}
constexpr float kTol = 1e-4f;

// A MobileNet-like model with odd channel counts and every layer type the engine lowers:
// strided stem, depthwise s1/s2, pointwise, ReLU6, a grouped conv, a 5x5 depthwise (no fast
// path), a strided 1x1, pools, a batch norm and a ReLU with nothing to fuse into, flatten with
// a spatial map, linear + BN + ReLU, dropout.
const char* kOddModel = R"(
[input]
channels=3
height=19
width=17
[conv]
name=stem
filters=13
size=3
stride=2
pad=1
bias=0
[batchnorm]
name=stem_bn
[relu6]
name=stem_relu
[conv]
name=dw1
filters=13
size=3
stride=1
pad=1
groups=13
bias=0
[batchnorm]
name=dw1_bn
[relu]
name=dw1_relu
[conv]
name=pw1
filters=27
size=1
bias=0
[batchnorm]
name=pw1_bn
[relu]
name=pw1_relu
[conv]
name=dw2
filters=27
size=3
stride=2
pad=1
groups=27
[relu]
name=dw2_relu
[conv]
name=group
filters=27
size=3
pad=1
groups=3
[conv]
name=dw5
filters=27
size=5
pad=2
groups=27
[conv]
name=down
filters=17
size=1
stride=2
[maxpool]
name=mp
size=2
stride=1
[batchnorm]
name=lone_bn
[relu]
name=lone_relu
[avgpool]
name=ap
size=2
stride=1
pad=1
[flatten]
name=flat
[linear]
name=fc1
out=33
[batchnorm]
name=fc1_bn
[relu]
name=fc1_relu
[dropout]
name=drop
p=0.3
[linear]
name=fc2
out=7
)";

// The MobileNet V1 stack at a small size and odd width (alpha 0.42 -> 13, 27, 54, ... channels).
Model small_mobilenet() {
  MobileNetV1Options o;
  o.alpha = 0.42f;
  o.resolution = 32;
  o.small_input = true;
  o.classes = 11;
  return build_mobilenet_v1(o);
}

std::vector<const kernels::KernelTable*> tables() {
  std::vector<const kernels::KernelTable*> out;
  for (const auto& isa : kernels::available_isas()) out.push_back(kernels::kernels_for(isa));
  return out;
}

void expect_engine_matches_model(Model& m, int batch, const std::string& what) {
  Tensor x = random_input(m.input, batch, 17);
  Tensor want = eval_forward(m, x);
  std::vector<Tensor> outs;
  for (const auto* t : tables()) {
    for (int threads : {1, 2})
      for (bool fuse_all : {false, true}) {
        EngineOptions o;
        o.isa = t;
        o.threads = threads;
        // Fuse and chain every depthwise + pointwise pair however small, so the fused paths
        // run on these small models too.
        if (fuse_all) o.fuse_min_bytes = 0;
        InferenceEngine e(m, o);
        Tensor got = e.run(x);
        EXPECT_LE(rel_diff(got, want), kTol) << what << " isa=" << t->isa << " threads=" << threads << " fuse_all=" << fuse_all;
        outs.push_back(got);
      }
  }
  // ISA paths against each other (and thread counts): all within the same tolerance.
  for (size_t i = 1; i < outs.size(); ++i) EXPECT_LE(rel_diff(outs[i], outs[0]), kTol) << what << " path " << i;
}

TEST(Engine, SickNetMatchesTrainingPath) {
  Model m = build_sicknet(1, 28, 28, 10);
  randomize(m, 5);
  expect_engine_matches_model(m, 1, "sicknet");
}

TEST(Engine, OddChannelModelWithEveryLayerTypeMatchesTrainingPath) {
  Model m = model_from_desc(kOddModel, "<odd>");
  randomize(m, 6);
  expect_engine_matches_model(m, 2, "odd model");
}

TEST(Engine, SmallOddWidthMobileNetMatchesTrainingPath) {
  Model m = small_mobilenet();
  randomize(m, 7);
  expect_engine_matches_model(m, 1, "mobilenet alpha 0.42");
}

TEST(Engine, FusesLargeDepthwiseWithPointwise) {
  Model m = small_mobilenet();
  EngineOptions o;
  o.fuse_min_bytes = 0;
  o.chain = false;
  InferenceEngine e(m, o);
  ASSERT_EQ(e.steps().size(), 1u + 13u + 2u) << e.summary();
  EXPECT_EQ(e.steps()[1].kind, "dwconv3x3+pw");
  EXPECT_EQ(e.steps()[1].name, "dw1+dw1_relu+pw1+pw1_relu");
  EXPECT_EQ(e.macs(), m.macs());
  EngineOptions big;
  big.fuse_min_bytes = size_t(1) << 40;
  EXPECT_EQ(InferenceEngine(m, big).steps().size(), 1u + 26u + 2u);
}

TEST(Engine, ChainsFusedPairsAndKeepsEveryLayerOnce) {
  Model m = small_mobilenet();
  EngineOptions o;
  o.fuse_min_bytes = 0;
  InferenceEngine e(m, o);
  std::string names;
  int chains = 0;
  for (const auto& s : e.steps()) {
    names += (names.empty() ? "" : "+") + s.name;
    chains += s.kind == "chain";
  }
  // 14 candidates (the stem and 13 fused pairs) pair up into chains.
  EXPECT_GE(chains, 6) << e.summary();
  std::string want;
  for (const auto& l : m.layers)
    if (l->type() != "batchnorm" && l->type() != "flatten") want += (want.empty() ? "" : "+") + l->name();
  EXPECT_EQ(names, want);
  EXPECT_EQ(e.macs(), m.macs());
}

TEST(Engine, PlanFusesAndPicksFastPaths) {
  Model m = small_mobilenet();
  InferenceEngine e(m);  // 32 px input: no depthwise output is big enough to fuse
  // stem conv, 13 x (dw + pw), pool, fc: BN and ReLU fused away, flatten of a 1x1 map skipped.
  ASSERT_EQ(e.steps().size(), 1u + 26u + 2u) << e.summary();
  EXPECT_EQ(e.steps()[0].kind, "conv");
  EXPECT_EQ(e.steps()[1].kind, "dwconv3x3");
  EXPECT_EQ(e.steps()[2].kind, "pointwise");
  EXPECT_EQ(e.steps()[0].name, "conv1+conv1_relu");  // conv1_bn folded into conv1
  EXPECT_EQ(e.steps().back().kind, "fc");
  EXPECT_EQ(e.macs(), m.macs());  // folding moves no multiplies
}

TEST(Engine, RunAllocatesNothing) {
  Model m = model_from_desc(kOddModel, "<odd>");
  randomize(m, 8);
  for (const auto* t : tables()) {
    EngineOptions o;
    o.isa = t;
    o.threads = 2;
    InferenceEngine e(m, o);
    Tensor x = random_input(m.input, 3, 9);
    std::vector<float> out(7);
    e.run(x.data(), out.data());  // OpenMP starts its threads on first use
    e.run(x);
    const long before = g_allocations.load();
    for (int i = 0; i < 3; ++i) e.run(x.data() + i * m.input.numel(), out.data());
    e.run(x);
    EXPECT_EQ(g_allocations.load() - before, 0) << t->isa;
  }
}

TEST(Engine, ProfileCountsEveryStep) {
  Model m = build_sicknet(1, 28, 28, 10);
  EngineOptions o;
  o.profile = true;
  o.threads = 1;
  InferenceEngine e(m, o);
  Tensor x = random_input(m.input, 2, 3);
  e.run(x);
  for (const auto& s : e.steps()) {
    EXPECT_EQ(s.runs, 2) << s.name;
    EXPECT_GT(s.seconds, 0.0) << s.name;
  }
  e.reset_profile();
  EXPECT_EQ(e.steps()[0].runs, 0);
}

TEST(Engine, WrongInputShapeIsAnError) {
  Model m = build_sicknet(1, 28, 28, 10);
  InferenceEngine e(m);
  Tensor bad(Shape{1, 1, 28, 27});
  try {
    e.run(bad);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("[1, 1, 28, 27]"), std::string::npos) << err.what();
  }
}

TEST(Engine, LoadsFromModelFiles) {
  Model m = model_from_desc(kOddModel, "<odd>");
  randomize(m, 10);
  TempDir dir;
  save_model(m, dir / "odd.model");
  Model loaded = load_model(dir / "odd.model");
  Tensor x = random_input(m.input, 1, 4);
  InferenceEngine a(m), b(loaded);
  Tensor ya = a.run(x), yb = b.run(x);
  for (size_t i = 0; i < ya.numel(); ++i) EXPECT_EQ(ya[i], yb[i]) << i;
}

TEST(Passes, FoldBatchnormKeepsEvalOutputAndRemovesFoldedLayers) {
  Model m = model_from_desc(kOddModel, "<odd>");
  randomize(m, 11);
  Model f = fold_batchnorm(m);
  int bns = 0;
  for (const auto& l : f.layers) bns += l->type() == "batchnorm";
  EXPECT_EQ(bns, 1) << "only the batch norm after the max pool stays";
  EXPECT_NE(f.find("lone_bn"), nullptr);
  EXPECT_EQ(f.find("stem_bn"), nullptr);
  Tensor x = random_input(m.input, 2, 12);
  EXPECT_LE(rel_diff(eval_forward(f, x), eval_forward(m, x)), kTol);
}

TEST(Passes, DropDropoutRemovesOnlyDropout) {
  Model m = build_sicknet(1, 28, 28, 10);
  randomize(m, 13);
  Model d = drop_dropout(m);
  EXPECT_EQ(d.layers.size(), m.layers.size() - 1);
  for (const auto& l : d.layers) EXPECT_NE(l->type(), "dropout");
  Tensor x = random_input(m.input, 1, 14);
  Tensor a = eval_forward(m, x), b = eval_forward(d, x);
  for (size_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a[i], b[i]);
}

}  // namespace
}  // namespace trim
