// linear.h - fully connected layer (y = x W^T + b) through OpenBLAS sgemm, and Flatten, which
// turns N x C x H x W into N x (C*H*W) x 1 x 1 (channel-major, so channel c owns the H*W
// consecutive input columns c*H*W .. c*H*W + H*W - 1 of the next Linear).
#pragma once

#include "framework/layer.h"

namespace trim {

class Linear : public Layer {
 public:
  // Description keys: out, bias=1. Input must be N x in x 1 x 1 (put a flatten before it).
  explicit Linear(const LayerDesc& d);
  Linear(int out_features, bool bias = true);

  std::string type() const override { return "linear"; }
  Shape setup(const Shape& in) override;
  void init_params(std::mt19937_64& rng) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
  std::vector<ParamRef> params() override;
  void write_desc(LayerDesc& d) const override;
  int64_t macs() const override;
  ChannelRole channel_role() const override { return ChannelRole::Source; }
  void set_out_channels(LayerDesc& d, int channels) const override { d.set("out", channels); }

  int in_features = 0, out_features = 0;
  bool has_bias = true;
  Tensor weight, dweight;  // [out_features, in_features]
  Tensor bias, dbias;      // [out_features]
};

class Flatten : public Layer {
 public:
  explicit Flatten(const LayerDesc& d);
  Flatten() = default;
  std::string type() const override { return "flatten"; }
  ChannelRole channel_role() const override { return ChannelRole::Flatten; }
  Shape setup(const Shape& in) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
};

}  // namespace trim
