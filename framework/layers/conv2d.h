// conv2d.h - 2-D convolution: any kernel size, stride, padding and groups (groups == channels is
// depthwise), optional bias. Standard convolution runs as im2col + OpenBLAS sgemm (forward,
// weight gradient, input gradient); depthwise runs direct. OpenMP across the batch.
#pragma once

#include "framework/layer.h"

namespace trim {

class Conv2d : public Layer {
 public:
  // Description keys: filters, size, stride=1, pad=0, groups=1, bias=1.
  explicit Conv2d(const LayerDesc& d);
  Conv2d(int out_channels, int kernel, int stride, int pad, int groups, bool bias);

  std::string type() const override { return "conv"; }
  Shape setup(const Shape& in) override;
  void init_params(std::mt19937_64& rng) override;
  void forward(Tensor& out, const Tensor& in, Context& ctx) override;
  void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                Context& ctx) override;
  std::vector<ParamRef> params() override;
  void write_desc(LayerDesc& d) const override;
  int64_t macs() const override;

  bool depthwise() const { return groups > 1 && groups == in_channels && groups == out_channels; }

  int in_channels = 0, out_channels = 0, kernel = 3, stride = 1, pad = 0, groups = 1;
  bool has_bias = true;
  Tensor weight, dweight;  // [out_channels, in_channels / groups, kernel, kernel]
  Tensor bias, dbias;      // [out_channels] (empty when has_bias is false)

 private:
  // im2col and partial weight-gradient scratch when the caller passes no shared workspace.
  Workspace own_workspace_;
};

}  // namespace trim
