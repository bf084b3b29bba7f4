// activation.cpp - ReLU and ReLU6. Backward reads the saved output: the gradient passes where
// the clamp was inactive (0 < out, and out < 6 for ReLU6).
#include "framework/layers/activation.h"
#include "framework/layers/shape_checks.h"
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

// Small tensors stay out of OpenMP altogether: libgomp allocates a team even for an if(false)
// or one-thread region, and the training step must not allocate.
template <class F>
void map(float* y, const float* x, size_t n, F f) {
  const long count = static_cast<long>(n);
  if (n < kParallelMin || omp_get_max_threads() == 1) {
#pragma omp simd
    for (long i = 0; i < count; ++i) y[i] = f(x[i]);
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (long i = 0; i < count; ++i) y[i] = f(x[i]);
}

// dx = dy where pass(out), else 0.
template <class P>
void gate(float* dx, const float* dy, const float* out, size_t n, P pass) {
  const long count = static_cast<long>(n);
  // Load unconditionally so the select vectorises (a conditional load becomes a branch,
  // mispredicted half the time on ReLU masks).
  if (n < kParallelMin || omp_get_max_threads() == 1) {
#pragma omp simd
    for (long i = 0; i < count; ++i) {
      const float g = dy[i];
      dx[i] = pass(out[i]) ? g : 0.f;
    }
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (long i = 0; i < count; ++i) {
    const float g = dy[i];
    dx[i] = pass(out[i]) ? g : 0.f;
  }
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
  map(out.data(), in.data(), in.numel(), [](float v) { return v < 0.f ? 0.f : v; });
}

void ReLU::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                    Context& ctx) {
  check_input(in, in_shape_, "relu", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "relu", name_);
  if (!dinput) return;
  dinput->resize(in.shape());
  gate(dinput->data(), doutput.data(), out.data(), out.numel(), [](float o) { return o > 0.f; });
}

ReLU6::ReLU6(const LayerDesc& d) { (void)d; }

Shape ReLU6::setup(const Shape& in) {
  in_shape_ = out_shape_ = setup_elementwise(in, "relu6 '" + name_ + "'");
  return out_shape_;
}

void ReLU6::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "relu6", name_);
  out.resize(in.shape());
  map(out.data(), in.data(), in.numel(), [](float v) { return std::min(std::max(v, 0.f), 6.f); });
}

void ReLU6::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                     Context& ctx) {
  check_input(in, in_shape_, "relu6", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "relu6", name_);
  if (!dinput) return;
  dinput->resize(in.shape());
  gate(dinput->data(), doutput.data(), out.data(), out.numel(), [](float o) { return o > 0.f && o < 6.f; });
}

}  // namespace trim
