// optimizer.h - SGD with momentum (Nesterov optional) and decoupled-from-BN weight decay, and
// the learning-rate schedules (step, cosine, linear warm-up). Flat loops over the model's
// parameter block.
#pragma once

#include <string>
#include <vector>

#include "framework/model.h"

namespace trim {

struct SgdOptions {
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 5e-4f;
  bool decay_bn_and_bias = false;  // PyTorch-style recipes usually exempt them
};

class Sgd {
 public:
  Sgd(Model& model, const SgdOptions& opt);
  // PyTorch's SGD: g += wd*w; v = mu*v + g; step = nesterov ? g + mu*v : v; w -= lr*step.
  void step(float lr);
  Tensor& velocity() { return velocity_; }
  const SgdOptions& options() const { return opt_; }

 private:
  Model& model_;
  SgdOptions opt_;
  Tensor velocity_;
  std::vector<float> decay_;  // per element: weight decay coefficient
};

struct LrSchedule {
  std::string kind = "cosine";  // cosine | step | constant
  float base_lr = 0.05f;
  float min_lr = 0.0f;          // cosine floor
  int warmup_epochs = 0;        // linear warm-up from base_lr/10 (or 0) over these epochs
  std::vector<int> milestones;  // step: epochs at which lr *= gamma
  float gamma = 0.1f;
  int epochs = 10;
  // Learning rate at fractional epoch t in [0, epochs). Throws Error for an unknown kind.
  float at(double t) const;
  void validate() const;
};

}  // namespace trim
