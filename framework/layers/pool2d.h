// pool2d.h - MaxPool2d (keeps the argmax for backward), AvgPool2d (padding excluded from the
// average), GlobalAvgPool (N x C x H x W -> N x C x 1 x 1).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/layer.h"

namespace trim {

class MaxPool2d : public Layer {
 public:
  // Description keys: size, stride=size, pad=0.
  explicit MaxPool2d(const LayerDesc& d);
  MaxPool2d(int kernel, int stride, int pad = 0);
  std::string type() const override { return "maxpool"; }
  ChannelRole channel_role() const override { return ChannelRole::Passthrough; }
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
  void write_desc(LayerDesc& d) const override;

  int kernel = 2, stride = 2, pad = 0;
  std::vector<int32_t> argmax;  // per output element: index into the input plane
};

class AvgPool2d : public Layer {
 public:
  // Description keys: size, stride=size, pad=0.
  explicit AvgPool2d(const LayerDesc& d);
  AvgPool2d(int kernel, int stride, int pad = 0);
  std::string type() const override { return "avgpool"; }
  ChannelRole channel_role() const override { return ChannelRole::Passthrough; }
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
  void write_desc(LayerDesc& d) const override;

  int kernel = 2, stride = 2, pad = 0;
};

class GlobalAvgPool : public Layer {
 public:
  explicit GlobalAvgPool(const LayerDesc& d);
  GlobalAvgPool() = default;
  std::string type() const override { return "globalavgpool"; }
  ChannelRole channel_role() const override { return ChannelRole::Passthrough; }
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
};

}  // namespace trim
