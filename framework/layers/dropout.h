// dropout.h - inverted dropout: in train mode zeroes each element with probability p and scales
// the rest by 1/(1-p); identity in eval mode. The mask is kept for backward.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/layer.h"

namespace trim {

class Dropout : public Layer {
 public:
  // Description keys: p=0.5.
  explicit Dropout(const LayerDesc& d);
  explicit Dropout(float p = 0.5f);
  std::string type() const override { return "dropout"; }
  ChannelRole channel_role() const override { return ChannelRole::Passthrough; }
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
  void write_desc(LayerDesc& d) const override;

  float p = 0.5f;
  std::vector<uint8_t> mask;
};

}  // namespace trim
