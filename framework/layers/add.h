// add.h - elementwise sum of two or more inputs of one shape (the residual connection of ResNet
// and MobileNet V2). No parameters; every input's gradient is the output gradient.
#pragma once

#include "framework/layer.h"

namespace trim {

class Add : public Layer {
 public:
  explicit Add(const LayerDesc& d);
  Add() = default;
  std::string type() const override { return "add"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 64; }
  ChannelRole channel_role() const override { return ChannelRole::Sum; }

  Shape setup_inputs(const std::vector<Shape>& in) override;
  void forward_inputs(Tensor& out, const std::vector<const Tensor*>& in, Context& ctx) override;
  void backward_inputs(const std::vector<Tensor*>& dinputs, const Tensor& doutput,
                       const std::vector<const Tensor*>& in, const Tensor& out, Context& ctx) override;

  // One input is not a sum: these throw (a model always calls the *_inputs forms).
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
};

}  // namespace trim
