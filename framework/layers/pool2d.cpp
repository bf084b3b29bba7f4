// pool2d.cpp - MaxPool2d, AvgPool2d and GlobalAvgPool, one (image, channel) plane per OpenMP
// iteration. Output size is floor((H + 2*pad - size) / stride) + 1 (PyTorch, ceil_mode off).
#include "framework/layers/pool2d.h"
#include "framework/layers/shape_checks.h"
#include "framework/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace trim {

namespace {

// Below this many input elements an OpenMP region costs more than the loop.
constexpr size_t kParallelMin = 1 << 14;

// The pad limit is PyTorch's; it guarantees that every window overlaps the input.
void check_window(const std::string& what, int kernel, int stride, int pad) {
  if (kernel <= 0 || stride <= 0 || pad < 0 || pad > kernel / 2)
    throw Error(what + ": need size > 0, stride > 0, 0 <= pad <= size/2 (size=" + std::to_string(kernel) +
                " stride=" + std::to_string(stride) + " pad=" + std::to_string(pad) + ")");
}

// Reads size, stride (= size) and pad.
void read_window(const LayerDesc& d, int& kernel, int& stride, int& pad) {
  kernel = d.require_int("size");
  stride = d.get_int("stride", kernel);
  pad = d.get_int("pad", 0);
  check_window(d.where(), kernel, stride, pad);
}

Shape pooled_shape(const Shape& in, int kernel, int stride, int pad, const std::string& what) {
  if (in.rank() != 3 || in.numel() == 0)
    throw Error(what + ": input must be channels x height x width, got " + in.str());
  const int h = in[1], w = in[2];
  const int64_t oh64 = window_output(h, kernel, stride, pad), ow64 = window_output(w, kernel, stride, pad);
  if (oh64 > INT32_MAX || ow64 > INT32_MAX) throw Error(what + ": output of input " + in.str() + " too large to hold");
  const int oh = static_cast<int>(oh64), ow = static_cast<int>(ow64);
  if (oh <= 0 || ow <= 0)
    throw Error(what + ": input " + in.str() + " is smaller than the window (size=" + std::to_string(kernel) +
                " pad=" + std::to_string(pad) + ")");
  return Shape{in[0], oh, ow};
}

void write_window(LayerDesc& d, int kernel, int stride, int pad) {
  d.set("size", kernel);
  d.set("stride", stride);
  d.set("pad", pad);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MaxPool2d

MaxPool2d::MaxPool2d(const LayerDesc& d) { read_window(d, kernel, stride, pad); }

MaxPool2d::MaxPool2d(int kernel_, int stride_, int pad_) : kernel(kernel_), stride(stride_), pad(pad_) {
  check_window("maxpool", kernel, stride, pad);
}

Shape MaxPool2d::setup(const Shape& in) {
  out_shape_ = pooled_shape(in, kernel, stride, pad, "maxpool '" + name_ + "'");
  in_shape_ = in;
  return out_shape_;
}

void MaxPool2d::write_desc(LayerDesc& d) const { write_window(d, kernel, stride, pad); }

void MaxPool2d::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "maxpool", name_);
  const int n = in.dim(0), c = in_shape_[0], h = in_shape_[1], w = in_shape_[2];
  const int oh = out_shape_[1], ow = out_shape_[2];
  resize4(out, n, c, oh, ow);
  argmax.resize(out.numel());  // std::vector keeps its capacity: no reallocation once grown
  const float* x = in.data();
  float* y = out.data();
  int32_t* am = argmax.data();
  const int planes = n * c;
parallel_for(planes, in.numel() >= kParallelMin, [&](int pl) {
    const float* xp = x + static_cast<size_t>(pl) * h * w;
    float* yp = y + static_cast<size_t>(pl) * oh * ow;
    int32_t* ap = am + static_cast<size_t>(pl) * oh * ow;
    if (kernel == 2 && stride == 2 && pad == 0) {
      // The common 2x2/2 pool without the window clipping; same scan order and tie rule as
      // the general loop below.
      // Selects instead of branches: on activations the winner is random, and mispredicted
      // branches cost more than the comparisons; the loop then vectorises.
      for (int oy = 0; oy < oh; ++oy) {
        const int r0 = 2 * oy * w, r1 = r0 + w;
        float* yr = yp + oy * ow;
        int32_t* ar = ap + oy * ow;
#pragma omp simd
        for (int ox = 0; ox < ow; ++ox) {
          const float v0 = xp[r0 + 2 * ox], v1 = xp[r0 + 2 * ox + 1];
          const float v2 = xp[r1 + 2 * ox], v3 = xp[r1 + 2 * ox + 1];
          float bv = v0;
          int best = r0 + 2 * ox;
          best = v1 > bv ? r0 + 2 * ox + 1 : best;
          bv = v1 > bv ? v1 : bv;
          best = v2 > bv ? r1 + 2 * ox : best;
          bv = v2 > bv ? v2 : bv;
          best = v3 > bv ? r1 + 2 * ox + 1 : best;
          bv = v3 > bv ? v3 : bv;
          yr[ox] = bv;
          ar[ox] = best;
        }
      }
      return;
    }
    for (int oy = 0; oy < oh; ++oy) {
      const int y0 = std::max(oy * stride - pad, 0), y1 = std::min(oy * stride - pad + kernel, h);
      for (int ox = 0; ox < ow; ++ox) {
        const int x0 = std::max(ox * stride - pad, 0), x1 = std::min(ox * stride - pad + kernel, w);
        // Padding counts as -inf, so only in-range cells compete; the first maximum wins ties.
        int best = y0 * w + x0;
        float bv = xp[best];
        for (int iy = y0; iy < y1; ++iy)
          for (int ix = x0; ix < x1; ++ix) {
            const float v = xp[iy * w + ix];
            if (v > bv) {
              bv = v;
              best = iy * w + ix;
            }
          }
        yp[oy * ow + ox] = bv;
        ap[oy * ow + ox] = best;
      }
    }
  });
}

void MaxPool2d::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                         Context& ctx) {
  check_input(in, in_shape_, "maxpool", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "maxpool", name_);
  if (argmax.size() != out.numel())
    throw Error("maxpool '" + name_ + "': backward without a matching forward");
  if (!dinput) return;
  const int h = in_shape_[1], w = in_shape_[2];
  const int ohw = out_shape_[1] * out_shape_[2];
  dinput->resize(in.shape());
  const float* dy = doutput.data();
  float* dx = dinput->data();
  const int32_t* am = argmax.data();
  const int planes = in.dim(0) * in_shape_[0];
parallel_for(planes, in.numel() >= kParallelMin, [&](int pl) {
    float* dp = dx + static_cast<size_t>(pl) * h * w;
    std::memset(dp, 0, sizeof(float) * h * w);
    const float* gp = dy + static_cast<size_t>(pl) * ohw;
    const int32_t* ap = am + static_cast<size_t>(pl) * ohw;
    for (int j = 0; j < ohw; ++j) dp[ap[j]] += gp[j];
  });
}

// ---------------------------------------------------------------------------------------------
// AvgPool2d

AvgPool2d::AvgPool2d(const LayerDesc& d) { read_window(d, kernel, stride, pad); }

AvgPool2d::AvgPool2d(int kernel_, int stride_, int pad_) : kernel(kernel_), stride(stride_), pad(pad_) {
  check_window("avgpool", kernel, stride, pad);
}

Shape AvgPool2d::setup(const Shape& in) {
  out_shape_ = pooled_shape(in, kernel, stride, pad, "avgpool '" + name_ + "'");
  in_shape_ = in;
  return out_shape_;
}

void AvgPool2d::write_desc(LayerDesc& d) const { write_window(d, kernel, stride, pad); }

void AvgPool2d::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "avgpool", name_);
  const int n = in.dim(0), c = in_shape_[0], h = in_shape_[1], w = in_shape_[2];
  const int oh = out_shape_[1], ow = out_shape_[2];
  resize4(out, n, c, oh, ow);
  const float* x = in.data();
  float* y = out.data();
  const int planes = n * c;
parallel_for(planes, in.numel() >= kParallelMin, [&](int pl) {
    const float* xp = x + static_cast<size_t>(pl) * h * w;
    float* yp = y + static_cast<size_t>(pl) * oh * ow;
    for (int oy = 0; oy < oh; ++oy) {
      const int y0 = std::max(oy * stride - pad, 0), y1 = std::min(oy * stride - pad + kernel, h);
      for (int ox = 0; ox < ow; ++ox) {
        const int x0 = std::max(ox * stride - pad, 0), x1 = std::min(ox * stride - pad + kernel, w);
        float s = 0.f;
        for (int iy = y0; iy < y1; ++iy)
          for (int ix = x0; ix < x1; ++ix) s += xp[iy * w + ix];
        // Padding is excluded from the count (PyTorch's count_include_pad=False).
        yp[oy * ow + ox] = s / static_cast<float>((y1 - y0) * (x1 - x0));
      }
    }
  });
}

void AvgPool2d::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                         Context& ctx) {
  check_input(in, in_shape_, "avgpool", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "avgpool", name_);
  if (!dinput) return;
  const int h = in_shape_[1], w = in_shape_[2];
  const int oh = out_shape_[1], ow = out_shape_[2];
  dinput->resize(in.shape());
  const float* dy = doutput.data();
  float* dx = dinput->data();
  const int planes = in.dim(0) * in_shape_[0];
parallel_for(planes, in.numel() >= kParallelMin, [&](int pl) {
    float* dp = dx + static_cast<size_t>(pl) * h * w;
    std::memset(dp, 0, sizeof(float) * h * w);
    const float* gp = dy + static_cast<size_t>(pl) * oh * ow;
    for (int oy = 0; oy < oh; ++oy) {
      const int y0 = std::max(oy * stride - pad, 0), y1 = std::min(oy * stride - pad + kernel, h);
      for (int ox = 0; ox < ow; ++ox) {
        const int x0 = std::max(ox * stride - pad, 0), x1 = std::min(ox * stride - pad + kernel, w);
        const float g = gp[oy * ow + ox] / static_cast<float>((y1 - y0) * (x1 - x0));
        for (int iy = y0; iy < y1; ++iy)
          for (int ix = x0; ix < x1; ++ix) dp[iy * w + ix] += g;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// GlobalAvgPool

GlobalAvgPool::GlobalAvgPool(const LayerDesc& d) { (void)d; }

Shape GlobalAvgPool::setup(const Shape& in) {
  if (in.rank() != 3 || in.numel() == 0)
    throw Error("globalavgpool '" + name_ + "': input must be channels x height x width, got " + in.str());
  in_shape_ = in;
  out_shape_ = Shape{in[0], 1, 1};
  return out_shape_;
}

void GlobalAvgPool::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "globalavgpool", name_);
  const int planes = in.dim(0) * in_shape_[0], hw = in_shape_[1] * in_shape_[2];
  resize4(out, in.dim(0), in_shape_[0], 1, 1);
  const float* x = in.data();
  float* y = out.data();
  const float inv = 1.f / static_cast<float>(hw);
parallel_for(planes, in.numel() >= kParallelMin, [&](int pl) {
    const float* xp = x + static_cast<size_t>(pl) * hw;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < hw; ++j) s += xp[j];
    y[pl] = s * inv;
  });
}

void GlobalAvgPool::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                             Context& ctx) {
  check_input(in, in_shape_, "globalavgpool", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "globalavgpool", name_);
  if (!dinput) return;
  const int planes = in.dim(0) * in_shape_[0], hw = in_shape_[1] * in_shape_[2];
  dinput->resize(in.shape());
  const float* dy = doutput.data();
  float* dx = dinput->data();
  const float inv = 1.f / static_cast<float>(hw);
parallel_for(planes, in.numel() >= kParallelMin, [&](int pl) {
    const float g = dy[pl] * inv;
    float* dp = dx + static_cast<size_t>(pl) * hw;
    for (int j = 0; j < hw; ++j) dp[j] = g;
  });
}

}  // namespace trim
