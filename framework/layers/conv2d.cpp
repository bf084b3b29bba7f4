// conv2d.cpp - Conv2d: description, set-up, parameters, the bias gradient and the depthwise
// convolution; forward and backward hand standard and grouped convolution to the im2col + GEMM
// paths (conv2d_gemm.cpp, blocked; conv2d_ref.cpp, the per-image reference).
// Depthwise convolution (groups == in == out channels) runs as direct loops: its GEMMs would
// have one row, which wastes the BLAS.
#include "framework/layers/conv2d.h"
#include "framework/layers/im2col.h"
#include "framework/layers/shape_checks.h"
#include "framework/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

namespace trim {

namespace {

std::string who(const std::string& name) { return "conv '" + name + "'"; }

// Below this many multiply-adds (or elements) a parallel region costs more than it saves:
// waking the second thread is microseconds, and far worse when the cores are oversubscribed.
constexpr int64_t kParallelMin = 1 << 16;

float plane_sum(const float* x, int n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += x[i];
  return s;
}

}  // namespace

Conv2d::Conv2d(int out_channels_, int kernel_, int stride_, int pad_, int groups_, bool bias_)
    : out_channels(out_channels_), kernel(kernel_), stride(stride_), pad(pad_), groups(groups_),
      has_bias(bias_) {
  if (out_channels <= 0 || kernel <= 0 || stride <= 0 || pad < 0 || groups <= 0)
    throw Error("conv: filters, size, stride and groups must be positive and pad >= 0 (filters=" +
                std::to_string(out_channels) + " size=" + std::to_string(kernel) + " stride=" +
                std::to_string(stride) + " pad=" + std::to_string(pad) + " groups=" +
                std::to_string(groups) + ")");
}

Conv2d::Conv2d(const LayerDesc& d) {
  out_channels = d.require_int("filters");
  kernel = d.require_int("size");
  stride = d.get_int("stride", 1);
  pad = d.get_int("pad", 0);
  groups = d.get_int("groups", 1);
  int b = d.get_int("bias", 1);
  const char* bad = out_channels <= 0 ? "filters" : kernel <= 0 ? "size" : stride <= 0 ? "stride"
                    : pad < 0 ? "pad" : groups <= 0 ? "groups" : (b != 0 && b != 1) ? "bias" : nullptr;
  if (bad)
    throw Error(d.where() + ": key '" + bad + "' out of range ('" + d.get(bad, "") +
                "'; filters, size, stride, groups > 0, pad >= 0, bias 0 or 1)");
  has_bias = b != 0;
}

Shape Conv2d::setup(const Shape& in) {
  if (in.rank() != 3)
    throw Error(who(name_) + ": input must be channels x height x width, got " + in.str());
  const int c = in[0], h = in[1], w = in[2];
  if (c % groups != 0 || out_channels % groups != 0)
    throw Error(who(name_) + ": groups=" + std::to_string(groups) + " must divide input channels " +
                std::to_string(c) + " and filters " + std::to_string(out_channels) + " (input " +
                in.str() + ")");
  const int64_t oh64 = window_output(h, kernel, stride, pad), ow64 = window_output(w, kernel, stride, pad);
  if (oh64 > INT32_MAX || ow64 > INT32_MAX)
    throw Error(who(name_) + ": input " + in.str() + " with size=" + std::to_string(kernel) + " stride=" +
                std::to_string(stride) + " pad=" + std::to_string(pad) + " gives an output too large to hold");
  const int oh = static_cast<int>(oh64), ow = static_cast<int>(ow64);
  if (c <= 0 || oh <= 0 || ow <= 0)
    throw Error(who(name_) + ": input " + in.str() + " with size=" + std::to_string(kernel) +
                " stride=" + std::to_string(stride) + " pad=" + std::to_string(pad) +
                " gives an empty output " + Shape{out_channels, oh, ow}.str());
  Shape ws{out_channels, c / groups, kernel, kernel};
  check_param_size(ws, who(name_));
  in_channels = c;
  in_shape_ = in;
  out_shape_ = Shape{out_channels, oh, ow};
  weight = Tensor(ws);
  dweight = Tensor(ws);
  if (has_bias) {
    bias = Tensor(Shape{out_channels});
    dbias = Tensor(Shape{out_channels});
  } else {
    bias = Tensor();
    dbias = Tensor();
  }
  return out_shape_;
}

void Conv2d::init_params(std::mt19937_64& rng) {
  // He (kaiming normal, fan_in): keeps activation variance through ReLU networks.
  const double fan_in = static_cast<double>(in_channels / groups) * kernel * kernel;
  std::normal_distribution<float> dist(0.f, static_cast<float>(std::sqrt(2.0 / fan_in)));
  for (float& v : weight) v = dist(rng);
  if (has_bias) bias.zero();
}

std::vector<ParamRef> Conv2d::params() {
  std::vector<ParamRef> p;
  p.push_back({"weight", &weight, &dweight, true});
  if (has_bias) p.push_back({"bias", &bias, &dbias, false});
  return p;
}

void Conv2d::write_desc(LayerDesc& d) const {
  d.set("filters", out_channels);
  d.set("size", kernel);
  d.set("stride", stride);
  d.set("pad", pad);
  d.set("groups", groups);
  d.set("bias", has_bias ? 1 : 0);
}

int64_t Conv2d::macs() const {
  if (out_shape_.rank() != 3) return 0;  // not set up yet
  return static_cast<int64_t>(out_shape_[0]) * out_shape_[1] * out_shape_[2] * (in_channels / groups) *
         kernel * kernel;
}

void Conv2d::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "conv", name_);
  const int n = in.dim(0), h = in_shape_[1], w = in_shape_[2];
  const int oh = out_shape_[1], ow = out_shape_[2], ohw = oh * ow;
  resize4(out, n, out_channels, oh, ow);
  const float* x = in.data();
  float* y = out.data();
  const float* wt = weight.data();
  const float* b = has_bias ? bias.data() : nullptr;

  const bool par = n * macs() >= kParallelMin;
  if (depthwise()) {
    const int k = kernel, s = stride, p = pad, c = in_channels;
    parallel_for(n * c, par, [&](int plane) {
      const int ch = plane % c;
      const float* src = x + static_cast<size_t>(plane) * h * w;
      float* dst = y + static_cast<size_t>(plane) * ohw;
      const float* kw_ = wt + static_cast<size_t>(ch) * k * k;
      const float b0 = b ? b[ch] : 0.f;
      for (int j = 0; j < ohw; ++j) dst[j] = b0;
      for (int kx = 0; kx < k; ++kx) {
        int lo, hi;
        valid_cols(w, ow, s, p, kx, lo, hi);
        for (int oy = 0; oy < oh; ++oy) {
          float* d = dst + static_cast<size_t>(oy) * ow;
          for (int ky = 0; ky < k; ++ky) {
            int iy = oy * s - p + ky;
            if (iy < 0 || iy >= h) continue;
            const float wv = kw_[ky * k + kx];
            const ptrdiff_t base = static_cast<ptrdiff_t>(iy) * w - p + kx;
            for (int ox = lo; ox < hi; ++ox) d[ox] += wv * src[base + static_cast<ptrdiff_t>(ox) * s];
          }
        }
      }
    });
    return;
  }

  Workspace& ws = ctx.workspace ? *ctx.workspace : own_workspace_;
  if (path == ConvPath::PerImage)
    forward_per_image(y, x, n, ws);
  else
    forward_blocked(y, x, n, ws);
}

void Conv2d::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                      Context& ctx) {
  check_input(in, in_shape_, "conv", name_);
  const int n = in.dim(0), h = in_shape_[1], w = in_shape_[2];
  const int oh = out_shape_[1], ow = out_shape_[2], ohw = oh * ow;
  check_doutput(doutput, n, out_shape_, "conv", name_);
  if (dinput) dinput->resize(in.shape());
  const float* x = in.data();
  const float* dy = doutput.data();
  const float* wt = weight.data();
  float* dx = dinput ? dinput->data() : nullptr;
  const bool par = n * macs() >= kParallelMin;

  // Bias gradient: one channel per iteration, images in order (thread-count independent).
  if (has_bias) {
    float* db = dbias.data();
    parallel_for(out_channels, par, [&](int oc) {
      float s = 0.f;
      for (int i = 0; i < n; ++i) s += plane_sum(dy + (static_cast<size_t>(i) * out_channels + oc) * ohw, ohw);
      db[oc] += s;
    });
  }

  if (depthwise()) {
    const int k = kernel, s = stride, p = pad, c = in_channels;
    float* dw = dweight.data();
    // One channel per iteration: its weight gradient sums images in order, so the result does
    // not depend on the thread count.
    parallel_for(c, par, [&](int ch) {
      const float* kw_ = wt + static_cast<size_t>(ch) * k * k;
      float* dkw = dw + static_cast<size_t>(ch) * k * k;
      for (int i = 0; i < n; ++i) {
        const float* src = x + (static_cast<size_t>(i) * c + ch) * h * w;
        const float* g = dy + (static_cast<size_t>(i) * c + ch) * ohw;
        float* dsrc = dx ? dx + (static_cast<size_t>(i) * c + ch) * h * w : nullptr;
        if (dsrc) std::memset(dsrc, 0, sizeof(float) * h * w);
        for (int ky = 0; ky < k; ++ky) {
          for (int kx = 0; kx < k; ++kx) {
            int lo, hi;
            valid_cols(w, ow, s, p, kx, lo, hi);
            const float wv = kw_[ky * k + kx];
            float acc = 0.f;
            for (int oy = 0; oy < oh; ++oy) {
              int iy = oy * s - p + ky;
              if (iy < 0 || iy >= h) continue;
              const float* gr = g + static_cast<size_t>(oy) * ow;
              const ptrdiff_t base = static_cast<ptrdiff_t>(iy) * w - p + kx;
#pragma omp simd reduction(+ : acc)
              for (int ox = lo; ox < hi; ++ox) acc += gr[ox] * src[base + static_cast<ptrdiff_t>(ox) * s];
              if (dsrc) {
                for (int ox = lo; ox < hi; ++ox) dsrc[base + static_cast<ptrdiff_t>(ox) * s] += wv * gr[ox];
              }
            }
            dkw[ky * k + kx] += acc;
          }
        }
      }
    });
    return;
  }

  Workspace& ws = ctx.workspace ? *ctx.workspace : own_workspace_;
  if (path == ConvPath::PerImage)
    backward_per_image(dx, dy, x, n, ws);
  else
    backward_blocked(dx, dy, x, n, ws);
}

}  // namespace trim
