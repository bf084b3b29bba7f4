// activation.cpp - ReLU and ReLU6. Backward reads the saved output: the gradient passes where
// the clamp was inactive (0 < out, and out < 6 for ReLU6).
#include "framework/layers/activation.h"
#include "framework/layers/shape_checks.h"
#include "framework/layers/simd_clones.h"
#include "framework/parallel.h"

#include <omp.h>

#include <algorithm>

namespace trim {

namespace {

// Below this many elements an OpenMP region costs more than the loop.
constexpr size_t kParallelMin = 1 << 14;

Shape setup_elementwise(const Shape& in, const std::string& what) {
  if (in.rank() != 3 || in.numel() == 0)
    throw Error(what + ": input must be channels x height x width, got " + in.str());
  return in;
}

// The loops themselves, one per activation and direction, each compiled per ISA.
TRIM_SIMD_CLONES void relu_forward(float* y, const float* x, long n) {
  for (long i = 0; i < n; ++i) y[i] = x[i] < 0.f ? 0.f : x[i];
}
TRIM_SIMD_CLONES void relu6_forward(float* y, const float* x, long n) {
  for (long i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], 0.f), 6.f);
}
// dx = dy where the clamp was inactive, else 0. Loads are unconditional so the select
// vectorises (a conditional load becomes a branch, mispredicted half the time on ReLU masks).
TRIM_SIMD_CLONES void relu_backward(float* dx, const float* dy, const float* out, long n) {
  for (long i = 0; i < n; ++i) {
    const float g = dy[i];
    dx[i] = out[i] > 0.f ? g : 0.f;
  }
}
TRIM_SIMD_CLONES void relu6_backward(float* dx, const float* dy, const float* out, long n) {
  for (long i = 0; i < n; ++i) {
    const float g = dy[i], o = out[i];
    dx[i] = o > 0.f && o < 6.f ? g : 0.f;
  }
}

// f(begin, count) over [0, n) in one static share per thread. Small tensors stay out of OpenMP
// altogether: libgomp allocates a team even for an if(false) or one-thread region, and the
// training step must not allocate.
template <class F>
void split(size_t n, F f) {
  const bool par = n >= kParallelMin;
  parallel_region(par, [&](int tid, int nt) {
    int64_t b = static_cast<int64_t>(n) * tid / nt, e = static_cast<int64_t>(n) * (tid + 1) / nt;
    f(static_cast<size_t>(b), static_cast<long>(e - b));
  });
}

}  // namespace

ReLU::ReLU(const LayerDesc& d) { (void)d; }

Shape ReLU::setup(const Shape& in) {
  in_shape_ = out_shape_ = setup_elementwise(in, "relu '" + name_ + "'");
  return out_shape_;
}

void ReLU::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "relu", name_);
  out.resize(in.shape());
  float* y = out.data();
  const float* x = in.data();
  split(in.numel(), [&](size_t b, long count) { relu_forward(y + b, x + b, count); });
}

void ReLU::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                    Context& ctx) {
  check_input(in, in_shape_, "relu", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "relu", name_);
  if (!dinput) return;
  dinput->resize(in.shape());
  float* dx = dinput->data();
  const float *dy = doutput.data(), *o = out.data();
  split(out.numel(), [&](size_t b, long count) { relu_backward(dx + b, dy + b, o + b, count); });
}

ReLU6::ReLU6(const LayerDesc& d) { (void)d; }

Shape ReLU6::setup(const Shape& in) {
  in_shape_ = out_shape_ = setup_elementwise(in, "relu6 '" + name_ + "'");
  return out_shape_;
}

void ReLU6::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "relu6", name_);
  out.resize(in.shape());
  float* y = out.data();
  const float* x = in.data();
  split(in.numel(), [&](size_t b, long count) { relu6_forward(y + b, x + b, count); });
}

void ReLU6::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                     Context& ctx) {
  check_input(in, in_shape_, "relu6", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "relu6", name_);
  if (!dinput) return;
  dinput->resize(in.shape());
  float* dx = dinput->data();
  const float *dy = doutput.data(), *o = out.data();
  split(out.numel(), [&](size_t b, long count) { relu6_backward(dx + b, dy + b, o + b, count); });
}

}  // namespace trim
