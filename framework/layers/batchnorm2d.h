// batchnorm2d.h - batch normalisation over N, H, W per channel. Train mode normalises with the
// batch statistics and updates the running ones (momentum, unbiased variance as PyTorch does);
// eval mode uses the running statistics.
#pragma once

#include <vector>

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

  // This layer and a ReLU after it as one step: out = max(BN(in), 0), with the same statistics,
  // running-statistic updates and rounding as forward() followed by ReLU::forward(). The BN
  // output is not stored.
  ChannelRole channel_role() const override { return ChannelRole::Follower; }
  bool fuses_relu() const override { return true; }
  const Tensor* channel_scale() const override { return &gamma; }
  void forward_relu(Tensor& out, const Tensor& in, Context& ctx) override;
  // Backward of that step: doutput is the gradient of the ReLU's output, out the ReLU's output
  // (shape only: the mask is recomputed from in). Same results as ReLU::backward() followed by
  // backward(). Pairs with the latest forward_relu(), as backward() pairs with forward().
  void backward_relu(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                     Context& ctx) override;

  int channels = 0;
  float eps = 1e-5f, momentum = 0.1f;
  Tensor gamma, beta, dgamma, dbeta;   // [channels]
  Tensor running_mean, running_var;    // [channels], saved, not trained
  Tensor saved_mean, saved_invstd;     // [channels], batch statistics kept for backward
  Tensor saved_scale, saved_shift;     // [channels], forward's y = x * scale + shift (the ReLU mask)

 private:
  void forward_impl(Tensor& out, const Tensor& in, Context& ctx, bool relu);
  void backward_impl(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out, Context& ctx,
                     bool relu);
  float eval_invstd(int ch) const;  // from the running variance
  std::vector<double> stats_;       // per-channel sums of forward and backward, sized by setup()
  std::vector<double> sync_moments_;  // Context::bn_sync: every process's (count, mean, m2)
  double sync_count_ = 0;             // Context::bn_sync: values per channel in the global batch
};

}  // namespace trim
