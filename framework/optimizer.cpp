#include "framework/optimizer.h"

#include <cmath>

namespace trim {

Sgd::Sgd(Model& model, const SgdOptions& opt)
    : model_(model), opt_(opt), velocity_(model.param_block().shape()) {
  std::vector<uint8_t> mask = model.decay_mask();
  decay_.resize(mask.size());
  for (size_t i = 0; i < mask.size(); ++i)
    decay_[i] = (mask[i] || opt.decay_bn_and_bias) ? opt.weight_decay : 0.f;
}

void Sgd::step(float lr) {
  float* w = model_.param_block().data();
  const float* g = model_.grad_block().data();
  float* v = velocity_.data();
  const float* wd = decay_.data();
  const float mu = opt_.momentum;
  const long n = static_cast<long>(velocity_.numel());
  if (opt_.nesterov) {
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; ++i) {
      float gi = g[i] + wd[i] * w[i];
      v[i] = mu * v[i] + gi;
      w[i] -= lr * (gi + mu * v[i]);
    }
  } else {
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; ++i) {
      float gi = g[i] + wd[i] * w[i];
      v[i] = mu * v[i] + gi;
      w[i] -= lr * v[i];
    }
  }
}

void LrSchedule::validate() const {
  if (kind != "cosine" && kind != "step" && kind != "constant")
    throw Error("unknown learning-rate schedule '" + kind + "' (known: cosine, step, constant)");
  if (!(base_lr > 0.f) || !std::isfinite(base_lr)) throw Error("learning rate must be positive, got " + std::to_string(base_lr));
  if (epochs <= 0) throw Error("epochs must be positive, got " + std::to_string(epochs));
  if (warmup_epochs < 0 || warmup_epochs >= epochs + 1) throw Error("warm-up epochs out of range: " + std::to_string(warmup_epochs));
}

float LrSchedule::at(double t) const {
  validate();
  if (warmup_epochs > 0 && t < warmup_epochs) return static_cast<float>(base_lr * (t + 1e-3) / warmup_epochs);
  if (kind == "constant") return base_lr;
  if (kind == "step") {
    float lr = base_lr;
    for (int m : milestones)
      if (t >= m) lr *= gamma;
    return lr;
  }
  double span = std::max(1e-9, static_cast<double>(epochs - warmup_epochs));
  double p = std::min(1.0, (t - warmup_epochs) / span);
  return static_cast<float>(min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(M_PI * p)));
}

}  // namespace trim
