// train_step.h - one SGD training step: the step train() runs for every batch. bench/train_step
// and the tests call this same function, so what they time and check is what training does.
#pragma once

#include <vector>

#include "framework/model.h"
#include "framework/optimizer.h"

namespace trim {

// Where a caller hooks into the step. after_backward is the place between backward and the
// optimizer update: the gradients of this batch are complete in model.grad_block() and the
// weights are not yet changed. A distributed (data-parallel) run reduces the gradients across
// processes there, before every process applies the same update. before_backward runs after
// the loss, before zero_grad + backward (bench/train_step restarts its per-layer timer there).
struct StepHooks {
  virtual ~StepHooks() = default;
  virtual void before_backward(Model&) {}
  virtual void after_backward(Model&) {}
};

struct StepResult {
  float loss = 0;        // mean softmax cross-entropy over the batch
  int correct = 0;       // top-1 hits in the batch
  bool updated = false;  // false: the loss was not finite, and backward and update were not run
};

// forward (ctx.mode is set to Train) -> softmax cross-entropy into dlogits (the caller's buffer,
// reused from step to step) -> zero_grad -> backward -> hooks->after_backward -> sgd.step(lr).
// A non-finite loss stops before backward and leaves the weights and the optimizer state
// untouched (train() then throws, naming the epoch and step). Once the model's buffers
// have grown (the first step), the step allocates nothing (tests/test_train_no_alloc.cpp).
// ctx.rng drives dropout: the caller seeds it (train() per epoch and step).
StepResult train_step(Model& model, Sgd& sgd, Context& ctx, const Tensor& images, const std::vector<int>& labels,
                      float lr, Tensor& dlogits, StepHooks* hooks = nullptr);

}  // namespace trim
