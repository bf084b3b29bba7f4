#include "framework/train_step.h"

#include <cmath>

#include "framework/loss.h"

namespace trim {

StepResult train_step(Model& model, Sgd& sgd, Context& ctx, const Tensor& images, const std::vector<int>& labels,
                      float lr, Tensor& dlogits, StepHooks* hooks) {
  ctx.mode = Mode::Train;
  StepResult r;
  const Tensor& logits = model.forward(images, ctx);
  r.loss = softmax_cross_entropy(&dlogits, &r.correct, logits, labels);
  if (!std::isfinite(r.loss)) return r;
  if (hooks) hooks->before_backward(model);
  model.zero_grad();
  model.backward(dlogits, ctx);
  if (hooks) hooks->after_backward(model);
  sgd.step(lr);
  r.updated = true;
  return r;
}

}  // namespace trim
