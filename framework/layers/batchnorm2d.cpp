// batchnorm2d.cpp - BatchNorm2d forward and backward, one channel per OpenMP iteration.
//
// Train mode: y = (x - mean) * invstd * gamma + beta with the batch mean and biased variance;
// the running statistics move by `momentum` towards the batch mean and the UNBIASED variance
// (PyTorch's convention, so weights trained here evaluate the same there). Eval mode uses the
// running statistics, which makes the layer a per-channel affine map.
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/shape_checks.h"
#include "framework/layers/simd_clones.h"
#include "framework/parallel.h"

#include <omp.h>

#include <cmath>
#include <cstdio>

namespace trim {

namespace {

std::string who(const std::string& name) { return "batchnorm '" + name + "'"; }

// Below this many elements an OpenMP region costs more than the loop.
constexpr size_t kParallelMin = 1 << 14;

// Sums within one plane in float (vectorised, a few hundred to a few thousand terms), across
// planes in double: a channel of a batch holds up to millions of values, and one float sum of
// that many terms would lose digits the variance needs.
TRIM_SIMD_CLONES float plane_sum(const float* x, int n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += x[i];
  return s;
}

TRIM_SIMD_CLONES float plane_sq_dev(const float* x, int n, float mean) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    s += d * d;
  }
  return s;
}

// y = x * scale + shift over one plane.
TRIM_SIMD_CLONES void plane_affine(float* y, const float* x, int n, float scale, float shift) {
  for (int i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}

// a = sum(dy), b = sum(dy * (x - mean)) over one plane.
TRIM_SIMD_CLONES void plane_grad_sums(const float* dy, const float* x, int n, float mean, float& a, float& b) {
  float sa = 0.f, sb = 0.f;
#pragma omp simd reduction(+ : sa, sb)
  for (int j = 0; j < n; ++j) {
    sa += dy[j];
    sb += dy[j] * (x[j] - mean);
  }
  a = sa;
  b = sb;
}

// dx = g * (dy - mdy - (x - mean) * invstd * mdyx) over one plane (training-mode input gradient).
TRIM_SIMD_CLONES void plane_train_dx(float* dx, const float* dy, const float* x, int n, float g, float mdy,
                                     float mean, float invstd, float mdyx) {
  for (int j = 0; j < n; ++j) dx[j] = g * (dy[j] - mdy - (x[j] - mean) * invstd * mdyx);
}

}  // namespace

BatchNorm2d::BatchNorm2d(float eps_, float momentum_) : eps(eps_), momentum(momentum_) {
  if (!(eps > 0.f) || !(momentum >= 0.f && momentum <= 1.f))
    throw Error("batchnorm: eps must be > 0 and momentum in [0, 1] (eps=" + std::to_string(eps) +
                " momentum=" + std::to_string(momentum) + ")");
}

BatchNorm2d::BatchNorm2d(const LayerDesc& d) {
  eps = d.get_float("eps", 1e-5f);
  momentum = d.get_float("momentum", 0.1f);
  if (!(eps > 0.f)) throw Error(d.where() + ": key 'eps' must be > 0, got '" + d.get("eps", "") + "'");
  if (!(momentum >= 0.f && momentum <= 1.f))
    throw Error(d.where() + ": key 'momentum' must be in [0, 1], got '" + d.get("momentum", "") + "'");
}

Shape BatchNorm2d::setup(const Shape& in) {
  if (in.rank() != 3 || in.numel() == 0)
    throw Error(who(name_) + ": input must be channels x height x width, got " + in.str());
  Shape c{in[0]};
  check_param_size(c, who(name_));
  channels = in[0];
  in_shape_ = in;
  out_shape_ = in;
  gamma = Tensor(c);
  beta = Tensor(c);
  dgamma = Tensor(c);
  dbeta = Tensor(c);
  running_mean = Tensor(c);
  running_var = Tensor(c);
  saved_mean = Tensor(c);
  saved_invstd = Tensor(c);
  return out_shape_;
}

void BatchNorm2d::init_params(std::mt19937_64& rng) {
  (void)rng;
  gamma.fill(1.f);
  beta.zero();
  running_mean.zero();
  running_var.fill(1.f);
}

std::vector<ParamRef> BatchNorm2d::params() {
  return {{"gamma", &gamma, &dgamma, false},
          {"beta", &beta, &dbeta, false},
          {"running_mean", &running_mean, nullptr, false},
          {"running_var", &running_var, nullptr, false}};
}

void BatchNorm2d::write_desc(LayerDesc& d) const {
  // Nine significant digits: enough for a float to survive write -> parse unchanged.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(eps));
  d.set("eps", buf);
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(momentum));
  d.set("momentum", buf);
}

void BatchNorm2d::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "batchnorm", name_);
  const int n = in.dim(0), c = channels, hw = in_shape_[1] * in_shape_[2];
  out.resize(in.shape());
  const float* x = in.data();
  float* y = out.data();
  const bool train = ctx.mode == Mode::Train;
  const int64_t m = static_cast<int64_t>(n) * hw;
  if (train && m < 2)
    throw Error(who(name_) + ": training needs more than one value per channel, got input " +
                in.shape().str());

parallel_for(c, in.numel() >= kParallelMin, [&](int ch) {
    float mean, invstd;
    if (train) {
      double s = 0.0;
      for (int i = 0; i < n; ++i) s += plane_sum(x + (static_cast<size_t>(i) * c + ch) * hw, hw);
      mean = static_cast<float>(s / static_cast<double>(m));
      double sq = 0.0;
      for (int i = 0; i < n; ++i) sq += plane_sq_dev(x + (static_cast<size_t>(i) * c + ch) * hw, hw, mean);
      const double var = sq / static_cast<double>(m);
      invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
      saved_mean[ch] = mean;
      saved_invstd[ch] = invstd;
      const double unbiased = sq / static_cast<double>(m - 1);
      running_mean[ch] = (1.f - momentum) * running_mean[ch] + momentum * mean;
      running_var[ch] = static_cast<float>((1.0 - momentum) * running_var[ch] + momentum * unbiased);
    } else {
      mean = running_mean[ch];
      invstd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[ch]) + eps));
    }
    const float scale = gamma[ch] * invstd;
    const float shift = beta[ch] - mean * scale;
    for (int i = 0; i < n; ++i)
      plane_affine(y + (static_cast<size_t>(i) * c + ch) * hw, x + (static_cast<size_t>(i) * c + ch) * hw, hw, scale,
                   shift);
  });
}

void BatchNorm2d::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                           Context& ctx) {
  check_input(in, in_shape_, "batchnorm", name_);
  const int n = in.dim(0), c = channels, hw = in_shape_[1] * in_shape_[2];
  check_doutput(doutput, n, out_shape_, "batchnorm", name_);
  if (dinput) dinput->resize(in.shape());
  const float* x = in.data();
  const float* dy = doutput.data();
  float* dx = dinput ? dinput->data() : nullptr;
  const bool train = ctx.mode == Mode::Train;
  const double m = static_cast<double>(n) * hw;

parallel_for(c, in.numel() >= kParallelMin, [&](int ch) {
    const float mean = train ? saved_mean[ch] : running_mean[ch];
    const float invstd = train ? saved_invstd[ch]
                               : static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[ch]) + eps));
    // sum(dy) and sum(dy * xhat), xhat = (x - mean) * invstd.
    double sdy = 0.0, sdyx = 0.0;
    for (int i = 0; i < n; ++i) {
      const float* xp = x + (static_cast<size_t>(i) * c + ch) * hw;
      const float* gp = dy + (static_cast<size_t>(i) * c + ch) * hw;
      float a, b;
      plane_grad_sums(gp, xp, hw, mean, a, b);
      sdy += a;
      sdyx += b;
    }
    sdyx *= invstd;
    dbeta[ch] += static_cast<float>(sdy);
    dgamma[ch] += static_cast<float>(sdyx);
    if (!dx) return;
    const float g = gamma[ch] * invstd;
    if (train) {
      // The batch statistics depend on every x of the channel:
      // dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)).
      const float mdy = static_cast<float>(sdy / m);
      const float mdyx = static_cast<float>(sdyx / m);
      for (int i = 0; i < n; ++i) {
        const float* xp = x + (static_cast<size_t>(i) * c + ch) * hw;
        const float* gp = dy + (static_cast<size_t>(i) * c + ch) * hw;
        plane_train_dx(dx + (static_cast<size_t>(i) * c + ch) * hw, gp, xp, hw, g, mdy, mean, invstd, mdyx);
      }
    } else {
      for (int i = 0; i < n; ++i) {
        const float* gp = dy + (static_cast<size_t>(i) * c + ch) * hw;
        float* dp = dx + (static_cast<size_t>(i) * c + ch) * hw;
        for (int j = 0; j < hw; ++j) dp[j] = g * gp[j];
      }
    }
  });
}

}  // namespace trim
