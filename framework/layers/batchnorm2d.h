// batchnorm2d.h - batch normalisation over N, H, W per channel. Train mode normalises with the
// batch statistics and updates the running ones (momentum, unbiased variance as PyTorch does);
// eval mode uses the running statistics.
#pragma once

#include "framework/layer.h"

namespace trim {

class BatchNorm2d : public Layer {
 public:
  // Description keys: eps=1e-5, momentum=0.1.
  explicit BatchNorm2d(const LayerDesc& d);
  BatchNorm2d(float eps = 1e-5f, float momentum = 0.1f);

  std::string type() const override { return "batchnorm"; }
  Shape setup(const Shape& in) override;
  void init_params(std::mt19937_64& rng) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
  std::vector<ParamRef> params() override;
  void write_desc(LayerDesc& d) const override;

  int channels = 0;
  float eps = 1e-5f, momentum = 0.1f;
  Tensor gamma, beta, dgamma, dbeta;   // [channels]
  Tensor running_mean, running_var;    // [channels], saved, not trained
  Tensor saved_mean, saved_invstd;     // [channels], batch statistics kept for backward
};

}  // namespace trim
