// concat.h - two or more inputs of one height and width joined along channels, in input order
// (inception-style branches, DenseNet). No parameters; each input's gradient is its slice of the
// output gradient.
#pragma once

#include "framework/layer.h"

namespace trim {

class Concat : public Layer {
 public:
  explicit Concat(const LayerDesc& d);
  Concat() = default;
  std::string type() const override { return "concat"; }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 64; }
  ChannelRole channel_role() const override { return ChannelRole::Concat; }

  Shape setup_inputs(const std::vector<Shape>& in) override;
  void forward_inputs(Tensor& out, const std::vector<const Tensor*>& in, Context& ctx) override;
  void backward_inputs(const std::vector<Tensor*>& dinputs, const Tensor& doutput,
                       const std::vector<const Tensor*>& in, const Tensor& out, Context& ctx) override;

  Shape setup(const Shape& in) override;  // throws: one input is not a concatenation
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;

  // Channels of each input (set by setup): input k is channels [offset(k), offset(k) + size).
  const std::vector<int>& input_channels() const { return input_channels_; }

 private:
  std::vector<int> input_channels_;
};

}  // namespace trim
