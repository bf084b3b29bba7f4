// activation.h - ReLU and ReLU6 (elementwise clamps). Backward uses the saved output.
#pragma once

#include "framework/layer.h"

namespace trim {

class ReLU : public Layer {
 public:
  explicit ReLU(const LayerDesc& d);
  ReLU() = default;
  std::string type() const override { return "relu"; }
  bool is_relu() const override { return true; }
  ChannelRole channel_role() const override { return ChannelRole::Passthrough; }
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
};

class ReLU6 : public Layer {
 public:
  explicit ReLU6(const LayerDesc& d);
  ReLU6() = default;
  std::string type() const override { return "relu6"; }
  ChannelRole channel_role() const override { return ChannelRole::Passthrough; }
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
};

}  // namespace trim
