// The training step allocates nothing after the first batch: train_step() (the function train()
// runs per batch: forward, loss, backward and the SGD update) of SICK-Net and of a small
// MobileNet reuses every buffer. Counts every operator new and every tensor allocation during
// later steps.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "framework/train_step.h"
#include "models/zoo.h"

static std::atomic<size_t> g_news{0};

void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace trim {
namespace {

void expect_steady_state_allocates_nothing(Model& m, int batch) {
  Tensor x(Shape{batch, m.input[0], m.input[1], m.input[2]}), dlogits;
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd;
  for (float& v : x) v = nd(rng);
  std::vector<int> labels(static_cast<size_t>(batch));
  for (int i = 0; i < batch; ++i) labels[static_cast<size_t>(i)] = i % m.classes();
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Train;
  ctx.workspace = &ws;
  ctx.rng = &rng;
  Sgd sgd(m, SgdOptions());
  // The step train() runs (framework/train_step.h), with a hook as a distributed run would hang
  // there: the hook call itself must not allocate either.
  struct Count : StepHooks {
    int after = 0;
    void after_backward(Model&) override { ++after; }
  } hooks;
  auto step = [&] { ASSERT_TRUE(train_step(m, sgd, ctx, x, labels, 0.01f, dlogits, &hooks).updated); };
  step();
  step();
  size_t news = g_news.load(), tensors = tensor_allocations();
  step();
  step();
  EXPECT_EQ(g_news.load() - news, 0u) << "operator new calls in a steady-state training step";
  EXPECT_EQ(tensor_allocations() - tensors, 0u) << "tensor allocations in a steady-state training step";
  EXPECT_EQ(hooks.after, 4);
}

TEST(TrainNoAlloc, SickNet) {
  Model m = build_sicknet(1, 16, 16, 10);  // smaller input: the same layers, a faster test
  m.init_params(1);
  expect_steady_state_allocates_nothing(m, 8);
}

TEST(TrainNoAlloc, MobileNetSmall) {
  MobileNetV1Options o;
  o.alpha = 0.25f;
  o.resolution = 32;
  o.channels = 3;
  o.classes = 5;
  o.small_input = true;
  Model m = build_mobilenet_v1(o);
  m.init_params(1);
  expect_steady_state_allocates_nothing(m, 4);
}

}  // namespace
}  // namespace trim
