// conv2d.h - 2-D convolution: any kernel size, stride, padding and groups (groups == channels is
// depthwise), optional bias. Standard convolution runs as im2col + OpenBLAS sgemm (forward,
// weight gradient, input gradient) over blocks of images (conv2d_gemm.cpp); depthwise runs
// direct. OpenMP across the batch.
#pragma once

#include "framework/layer.h"

namespace trim {

// How a standard (not depthwise) convolution is computed. Both give the same result up to
// float rounding; tests run both.
enum class ConvPath {
  Blocked,   // several images per GEMM, input gradient as a transposed convolution (conv2d_gemm.cpp)
  PerImage,  // the plain reference: one image per GEMM, input gradient by col2im (conv2d_ref.cpp)
};

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
  ChannelRole channel_role() const override {
    return groups == 1 ? ChannelRole::Source : depthwise() ? ChannelRole::Follower : ChannelRole::Opaque;
  }
  std::string opaque_reason() const override {
    return "the grouped conv '" + name_ + "' (groups=" + std::to_string(groups) + "), which surgery does not split";
  }
  void set_out_channels(LayerDesc& d, int channels) const override {
    d.set("filters", channels);
    if (depthwise()) d.set("groups", channels);
  }

  bool depthwise() const { return groups > 1 && groups == in_channels && groups == out_channels; }
  // Images sharing one GEMM on the blocked path for a batch of n: a power of two, so a batch of
  // 64 splits evenly over 2 or 4 threads, and independent of the thread count, so each image's
  // output is computed by the same GEMM call however many threads run.
  int images_per_gemm(int n) const;

  ConvPath path = ConvPath::Blocked;
  // On the blocked path, 3x3 stride-1 padding-1 convolutions run forward, input gradient and
  // weight gradient through conv3x3_implicit.cpp where the CPU and channel counts allow; false:
  // im2col + sgemm for every shape.
  bool use_implicit_3x3 = true;

  int in_channels = 0, out_channels = 0, kernel = 3, stride = 1, pad = 0, groups = 1;
  bool has_bias = true;
  Tensor weight, dweight;  // [out_channels, in_channels / groups, kernel, kernel]
  Tensor bias, dbias;      // [out_channels] (empty when has_bias is false)

 private:
  void forward_blocked(float* y, const float* x, int n, Workspace& ws);
  bool implicit_3x3(int rows) const;  // conv3x3_implicit applies, with `rows` output rows per group
  bool implicit_3x3_dweight() const;  // conv3x3_implicit_dweight applies
  void forward_implicit_3x3(float* y, const float* x, int n, Workspace& ws);
  void backward_blocked(float* dx, const float* dy, const float* x, int n, Workspace& ws);
  void forward_per_image(float* y, const float* x, int n, Workspace& ws);
  void backward_per_image(float* dx, const float* dy, const float* x, int n, Workspace& ws);

  // im2col and partial weight-gradient scratch when the caller passes no shared workspace.
  Workspace own_workspace_;
};

}  // namespace trim
