// batchnorm2d.cpp - BatchNorm2d forward and backward, one channel per OpenMP iteration.
//
// Train mode: y = (x - mean) * invstd * gamma + beta with the batch mean and biased variance;
// the running statistics move by `momentum` towards the batch mean and the UNBIASED variance
// (PyTorch's convention, so weights trained here evaluate the same there). Eval mode uses the
// running statistics, which makes the layer a per-channel affine map.
//
// Statistics take one pass over the input (plane_moments, moments_add), normalisation a second.
// forward_relu / backward_relu are BN and the ReLU after it in one go (the model takes them for
// a [batchnorm] followed by a [relu]): the BN output is never written, and backward recomputes
// the ReLU mask from the input instead of making the ReLU's own pass over its gradient.
#include "framework/layers/batchnorm2d.h"

// The BN value x * scale + shift must round the same in the forward pass and in the backward's
// recomputed ReLU mask, in every ISA clone and in vector and scalar loops alike. GCC contracts
// a * b + c into one fused multiply-add wherever the target has FMA (C++ defaults to
// -ffp-contract=fast), and decides loop by loop (the AVX-512 clone's vector body fused, its
// scalar remainder not): so no contraction in this file.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "framework/communicator.h"
#include "framework/layers/shape_checks.h"
#include "framework/layers/simd_clones.h"
#include "framework/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace trim {

namespace {

std::string who(const std::string& name) { return "batchnorm '" + name + "'"; }

// Below this many elements an OpenMP region costs more than the loop.
constexpr size_t kParallelMin = 1 << 14;

// Mean and sum of squared deviations of one plane. The plane is read from memory once for its
// sum; the deviations are taken around that float mean while the plane is still in L1, and
// corrected for its rounding (m2 = sum d^2 - (sum d)^2 / n). A plane holds a few dozen to a few
// thousand values, so float sums lose nothing the variance needs; planes are combined in double
// (moments_add).
TRIM_SIMD_CLONES void plane_moments(const float* x, int n, double& mean, double& m2) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += x[i];
  const float c = s / static_cast<float>(n);
  float s1 = 0.f, s2 = 0.f;
#pragma omp simd reduction(+ : s1, s2)
  for (int i = 0; i < n; ++i) {
    const float d = x[i] - c;
    s1 += d;
    s2 += d * d;
  }
  mean = c + static_cast<double>(s1) / n;
  m2 = std::max(0.0, static_cast<double>(s2) - static_cast<double>(s1) * s1 / n);
}

// Merges a plane's (n, mean_b, m2_b) into a running count, mean and sum of squared deviations
// (Chan et al.'s pairwise update): one pass over the channel instead of a pass for the mean and
// one for the variance, and no cancellation when the mean is large next to the spread.
void moments_add(double& count, double& mean, double& m2, double n, double mean_b, double m2_b) {
  const double total = count + n, delta = mean_b - mean;
  mean += delta * n / total;
  m2 += m2_b + delta * delta * count * n / total;
  count = total;
}

// y = x * scale + shift over one plane.
TRIM_SIMD_CLONES void plane_affine(float* y, const float* x, int n, float scale, float shift) {
  for (int i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}

// The ReLU of the BN output, and whether it let the gradient through: the same float
// expression in forward and backward, so the backward's mask is exactly the forward's.
inline float bn_value(float x, float scale, float shift) { return x * scale + shift; }

// y = max(x * scale + shift, 0) over one plane (BN then ReLU; ReLU's own select, so -0 stays -0).
TRIM_SIMD_CLONES void plane_affine_relu(float* y, const float* x, int n, float scale, float shift) {
  for (int i = 0; i < n; ++i) {
    const float v = bn_value(x[i], scale, shift);
    y[i] = v < 0.f ? 0.f : v;
  }
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

// The same with dy masked by the ReLU that followed (dy where x * scale + shift > 0, else 0):
// the mask is recomputed from x instead of read from the ReLU's output.
TRIM_SIMD_CLONES void plane_grad_sums_relu(const float* dy, const float* x, int n, float mean, float scale,
                                           float shift, float& a, float& b) {
  float sa = 0.f, sb = 0.f;
#pragma omp simd reduction(+ : sa, sb)
  for (int j = 0; j < n; ++j) {
    const float g = bn_value(x[j], scale, shift) > 0.f ? dy[j] : 0.f;
    sa += g;
    sb += g * (x[j] - mean);
  }
  a = sa;
  b = sb;
}

// dx = g * (dy - mdy - (x - mean) * invstd * mdyx) over one plane (training-mode input gradient).
TRIM_SIMD_CLONES void plane_train_dx(float* dx, const float* dy, const float* x, int n, float g, float mdy,
                                     float mean, float invstd, float mdyx) {
  for (int j = 0; j < n; ++j) dx[j] = g * (dy[j] - mdy - (x[j] - mean) * invstd * mdyx);
}

TRIM_SIMD_CLONES void plane_train_dx_relu(float* dx, const float* dy, const float* x, int n, float g, float mdy,
                                          float mean, float invstd, float mdyx, float scale, float shift) {
  for (int j = 0; j < n; ++j) {
    const float d = bn_value(x[j], scale, shift) > 0.f ? dy[j] : 0.f;
    dx[j] = g * (d - mdy - (x[j] - mean) * invstd * mdyx);
  }
}

// dx = g * dy over one plane (eval-mode input gradient), dy masked by the ReLU when relu is set.
TRIM_SIMD_CLONES void plane_eval_dx(float* dx, const float* dy, const float* x, int n, float g, bool relu,
                                    float scale, float shift) {
  if (relu) {
    for (int j = 0; j < n; ++j) dx[j] = g * (bn_value(x[j], scale, shift) > 0.f ? dy[j] : 0.f);
  } else {
    for (int j = 0; j < n; ++j) dx[j] = g * dy[j];
  }
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
  saved_scale = Tensor(c);
  saved_shift = Tensor(c);
  stats_.assign(4 * static_cast<size_t>(channels), 0.0);
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

void BatchNorm2d::forward(Tensor& out, const Tensor& in, Context& ctx) { forward_impl(out, in, ctx, false); }

void BatchNorm2d::forward_relu(Tensor& out, const Tensor& in, Context& ctx) { forward_impl(out, in, ctx, true); }

void BatchNorm2d::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                           Context& ctx) {
  backward_impl(dinput, doutput, in, out, ctx, false);
}

void BatchNorm2d::backward_relu(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                                Context& ctx) {
  backward_impl(dinput, doutput, in, out, ctx, true);
}

namespace {

// Channels per chunk: two tensors' worth of a chunk (x and y, or x and dy) in about 1 MB.
int channels_per_chunk(int n, int hw, int c) {
  const size_t per_channel = 2 * sizeof(float) * static_cast<size_t>(n) * static_cast<size_t>(hw);
  return static_cast<int>(std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(c), (size_t(1) << 20) / per_channel)));
}

}  // namespace

float BatchNorm2d::eval_invstd(int ch) const {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[ch]) + eps));
}

// Both directions make two passes over a channel (statistics, then normalisation; gradient
// sums, then the input gradient). Each thread takes a share of the channels and walks them in
// chunks small enough that a chunk's input and gradient stay in L2 between the two passes;
// within a chunk it goes image by image over the chunk's planes, so the reads are long runs of
// consecutive memory (one plane of each image in turn is a few hundred bytes from each of n
// places, which the prefetchers cannot follow: that made the 7x7 layers slower than their
// arithmetic). Each channel still sums its planes in image order: the results do not depend on
// the thread count.
void BatchNorm2d::forward_impl(Tensor& out, const Tensor& in, Context& ctx, bool relu) {
  check_input(in, in_shape_, "batchnorm", name_);
  const int n = in.dim(0), c = channels, hw = in_shape_[1] * in_shape_[2];
  out.resize(in.shape());
  const float* x = in.data();
  float* y = out.data();
  const bool train = ctx.mode == Mode::Train;
  Communicator* sync = train ? ctx.bn_sync : nullptr;
  int64_t m = static_cast<int64_t>(n) * hw;
  if (train && !sync && m < 2)
    throw Error(who(name_) + ": training needs more than one value per channel, got input " +
                in.shape().str());
  // Per channel: count, mean and sum of squared deviations so far.
  double* count = stats_.data();
  double* mu = count + c;
  double* m2 = mu + c;

  const int chunk = channels_per_chunk(n, hw, c);
  auto batch_moments = [&](int c0, int c1) {
    for (int ch = c0; ch < c1; ++ch) count[ch] = mu[ch] = m2[ch] = 0.0;
    for (int i = 0; i < n; ++i)
      for (int ch = c0; ch < c1; ++ch) {
        double pm, pm2;
        plane_moments(x + (static_cast<size_t>(i) * c + ch) * hw, hw, pm, pm2);
        moments_add(count[ch], mu[ch], m2[ch], hw, pm, pm2);
      }
  };
  auto normalise = [&](int c0, int c1) {
    for (int ch = c0; ch < c1; ++ch) {
      float mean, invstd;
      if (train) {
        mean = static_cast<float>(mu[ch]);
        const double var = m2[ch] / static_cast<double>(m);
        invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
        saved_mean[ch] = mean;
        saved_invstd[ch] = invstd;
        const double unbiased = m2[ch] / static_cast<double>(m - 1);
        running_mean[ch] = (1.f - momentum) * running_mean[ch] + momentum * mean;
        running_var[ch] = static_cast<float>((1.0 - momentum) * running_var[ch] + momentum * unbiased);
      } else {
        mean = running_mean[ch];
        invstd = eval_invstd(ch);
      }
      const float scale = gamma[ch] * invstd;
      saved_scale[ch] = scale;
      saved_shift[ch] = beta[ch] - mean * scale;
    }
    for (int i = 0; i < n; ++i)
      for (int ch = c0; ch < c1; ++ch) {
        const size_t off = (static_cast<size_t>(i) * c + ch) * hw;
        if (relu)
          plane_affine_relu(y + off, x + off, hw, saved_scale[ch], saved_shift[ch]);
        else
          plane_affine(y + off, x + off, hw, saved_scale[ch], saved_shift[ch]);
      }
  };
  const bool parallel = in.numel() >= kParallelMin;
  if (!sync) {
    // One chunk at a time, statistics then normalisation, while the chunk is in L2.
    parallel_region(parallel, [&](int tid, int nt) {
      int t0, t1;
      thread_range(c, tid, nt, t0, t1);
      for (int c0 = t0; c0 < t1; c0 += chunk) {
        const int c1 = std::min(t1, c0 + chunk);
        if (train) batch_moments(c0, c1);
        normalise(c0, c1);
      }
    });
    return;
  }
  // Synchronised statistics: every process's (count, mean, m2) per channel, merged in rank order
  // (the same merge as the planes', so every process gets the same bits), then normalisation.
  parallel_region(parallel, [&](int tid, int nt) {
    int t0, t1;
    thread_range(c, tid, nt, t0, t1);
    batch_moments(t0, t1);
  });
  const int ranks = sync->size();
  sync_moments_.resize(static_cast<size_t>(ranks) * 3 * c);
  sync->gather_all(stats_.data(), 3 * static_cast<size_t>(c) * sizeof(double), sync_moments_.data(),
                   "batch-norm statistics");
  for (int ch = 0; ch < c; ++ch) {
    double tc = 0, tmu = 0, tm2 = 0;
    for (int r = 0; r < ranks; ++r) {
      const double* s = sync_moments_.data() + static_cast<size_t>(r) * 3 * c;
      if (s[ch] == 0) continue;
      if (tc == 0) {  // the first share as it is (moments_add would round its mean)
        tc = s[ch];
        tmu = s[c + ch];
        tm2 = s[2 * c + ch];
      } else {
        moments_add(tc, tmu, tm2, s[ch], s[c + ch], s[2 * c + ch]);
      }
    }
    count[ch] = tc;
    mu[ch] = tmu;
    m2[ch] = tm2;
  }
  m = static_cast<int64_t>(count[0]);
  sync_count_ = static_cast<double>(m);
  if (m < 2)
    throw Error(who(name_) + ": training needs more than one value per channel over all processes, got " +
                std::to_string(m));
  parallel_region(parallel, [&](int tid, int nt) {
    int t0, t1;
    thread_range(c, tid, nt, t0, t1);
    normalise(t0, t1);
  });
}

void BatchNorm2d::backward_impl(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                                Context& ctx, bool relu) {
  (void)out;  // the ReLU mask is recomputed from the input
  check_input(in, in_shape_, "batchnorm", name_);
  const int n = in.dim(0), c = channels, hw = in_shape_[1] * in_shape_[2];
  check_doutput(doutput, n, out_shape_, "batchnorm", name_);
  if (dinput) dinput->resize(in.shape());
  const float* x = in.data();
  const float* dy = doutput.data();
  float* dx = dinput ? dinput->data() : nullptr;
  const bool train = ctx.mode == Mode::Train;
  Communicator* sync = train ? ctx.bn_sync : nullptr;
  double m = static_cast<double>(n) * hw;
  // Per channel: sum(dy), sum(dy * (x - mean)), then the input gradient's coefficients (floats
  // held in doubles).
  double* sdy = stats_.data();
  double* sdyx = sdy + c;
  double* mdy = sdyx + c;
  double* mdyx = mdy + c;

  const int chunk = channels_per_chunk(n, hw, c);
  auto mean_of = [&](int ch) { return train ? saved_mean[ch] : running_mean[ch]; };
  auto invstd_of = [&](int ch) { return train ? saved_invstd[ch] : eval_invstd(ch); };
  // sum(dy) and sum(dy * xhat), xhat = (x - mean) * invstd, and this process's share of the
  // parameter gradients.
  auto grad_sums = [&](int c0, int c1) {
    for (int ch = c0; ch < c1; ++ch) sdy[ch] = sdyx[ch] = 0.0;
    for (int i = 0; i < n; ++i)
      for (int ch = c0; ch < c1; ++ch) {
        const size_t off = (static_cast<size_t>(i) * c + ch) * hw;
        float a, b;
        // The ReLU mask comes from the forward's own scale and shift.
        if (relu)
          plane_grad_sums_relu(dy + off, x + off, hw, mean_of(ch), saved_scale[ch], saved_shift[ch], a, b);
        else
          plane_grad_sums(dy + off, x + off, hw, mean_of(ch), a, b);
        sdy[ch] += a;
        sdyx[ch] += b;
      }
    for (int ch = c0; ch < c1; ++ch) {
      sdyx[ch] *= invstd_of(ch);
      dbeta[ch] += static_cast<float>(sdy[ch]);
      dgamma[ch] += static_cast<float>(sdyx[ch]);
    }
  };
  auto input_grad = [&](int c0, int c1) {
    for (int ch = c0; ch < c1; ++ch) {
      mdy[ch] = static_cast<double>(static_cast<float>(sdy[ch] / m));
      mdyx[ch] = static_cast<double>(static_cast<float>(sdyx[ch] / m));
    }
    if (!dx) return;
    for (int i = 0; i < n; ++i)
      for (int ch = c0; ch < c1; ++ch) {
        const size_t off = (static_cast<size_t>(i) * c + ch) * hw;
        const float mean = mean_of(ch), invstd = invstd_of(ch), g = gamma[ch] * invstd;
        if (train) {
          // The batch statistics depend on every x of the channel:
          // dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)).
          if (relu)
            plane_train_dx_relu(dx + off, dy + off, x + off, hw, g, static_cast<float>(mdy[ch]), mean, invstd,
                                static_cast<float>(mdyx[ch]), saved_scale[ch], saved_shift[ch]);
          else
            plane_train_dx(dx + off, dy + off, x + off, hw, g, static_cast<float>(mdy[ch]), mean, invstd,
                           static_cast<float>(mdyx[ch]));
        } else {
          plane_eval_dx(dx + off, dy + off, x + off, hw, g, relu, saved_scale[ch], saved_shift[ch]);
        }
      }
  };
  const bool parallel = in.numel() >= kParallelMin;
  if (!sync) {
    parallel_region(parallel, [&](int tid, int nt) {
      int t0, t1;
      thread_range(c, tid, nt, t0, t1);
      for (int c0 = t0; c0 < t1; c0 += chunk) {
        const int c1 = std::min(t1, c0 + chunk);
        grad_sums(c0, c1);
        input_grad(c0, c1);
      }
    });
    return;
  }
  // Synchronised statistics: the mean over the global batch depended on every process's inputs,
  // so the input gradient takes the sums over every process (the parameter gradients keep this
  // process's share; the trainer's gradient sum adds them up).
  parallel_region(parallel, [&](int tid, int nt) {
    int t0, t1;
    thread_range(c, tid, nt, t0, t1);
    grad_sums(t0, t1);
  });
  sync->sum(stats_.data(), 2 * static_cast<size_t>(c), "batch-norm gradient sums");
  m = sync_count_;
  parallel_region(parallel, [&](int tid, int nt) {
    int t0, t1;
    thread_range(c, tid, nt, t0, t1);
    input_grad(t0, t1);
  });
}

}  // namespace trim
