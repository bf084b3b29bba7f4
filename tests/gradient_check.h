// gradient_check.h - central-difference gradient checker for any trim::Layer (in the spirit of
// tiny-dnn's util/gradient_check.h).
//
// The layer's output is reduced to a scalar by a fixed random linear functional
// f(x, theta) = sum(out * R), accumulated in double. backward() is fed doutput = R, so its
// results must equal df/dx and df/dtheta. Random entries of the input and of every trainable
// parameter are perturbed by +-eps and (f+ - f-) / (x+ - x-) is compared with the analytic value.
// Before every forward the random generator in the context is re-seeded (dropout draws the same
// mask each time) and buffers such as BN running statistics are restored.
//
// The check also verifies the gradient conventions of layer.h: backward OVERWRITES dinput (it
// is pre-filled with garbage) and ADDS into parameter gradients (they are pre-filled with
// random values, and a second backward with dinput == nullptr must add the same amount again).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "framework/layer.h"
#include "framework/model.h"
#include "framework/tensor.h"

namespace trim {
namespace gradcheck {

struct Config {
  double eps = 1e-2;      // perturbation (float inputs: smaller steps drown in rounding)
  double rel_tol = 1e-2;  // |analytic - numeric| <= abs_tol + rel_tol * max(|analytic|, |numeric|)
  double abs_tol = 1e-3;
  int max_checks = 24;      // entries checked per tensor; all of them when the tensor is smaller
  uint64_t seed = 1;        // picks R and the checked entries
  uint64_t rng_seed = 99;   // Context::rng is reset to this before every forward
  Mode mode = Mode::Train;
};

// Uniform values in [lo, hi).
inline void fill_uniform(Tensor& t, std::mt19937_64& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  for (float& v : t) v = d(rng);
}

// Every trainable parameter uniform in [-1, 1): biases and BN shifts start at 0 by default,
// which would leave their gradient paths half-tested.
inline void randomize_params(Layer& layer, std::mt19937_64& rng) {
  for (auto& p : layer.params())
    if (p.grad) fill_uniform(*p.value, rng);
}

inline std::string describe_index(const Shape& s, size_t flat) {
  std::vector<int> idx(static_cast<size_t>(s.rank()));
  for (int d = s.rank() - 1; d >= 0; --d) {
    idx[static_cast<size_t>(d)] = static_cast<int>(flat % static_cast<size_t>(s[d]));
    flat /= static_cast<size_t>(s[d]);
  }
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < idx.size(); ++i) o << (i ? "," : "") << idx[i];
  o << ']';
  return o.str();
}

// Runs the whole check. `what` describes the case (kernel, stride, ...) and is printed with
// every failure, together with the layer, the shapes, the mode and the tolerances.
inline ::testing::AssertionResult check_layer(Layer& layer, const Tensor& input, const Config& cfg,
                                              const std::string& what) {
  std::mt19937_64 rng(cfg.seed);
  std::mt19937_64 ctx_rng(cfg.rng_seed);
  Workspace ws;
  Context ctx;
  ctx.mode = cfg.mode;
  ctx.workspace = &ws;
  ctx.rng = &ctx_rng;

  std::vector<ParamRef> params = layer.params();
  std::vector<Tensor> saved_buffers;
  for (auto& p : params)
    if (!p.grad) saved_buffers.push_back(*p.value);

  Tensor x = input;
  Tensor out;
  auto restore = [&]() {
    size_t b = 0;
    for (auto& p : params)
      if (!p.grad) *p.value = saved_buffers[b++];
    ctx_rng.seed(cfg.rng_seed);
  };
  restore();
  layer.forward(out, x, ctx);
  Tensor r(out.shape());
  fill_uniform(r, rng);
  auto f = [&]() {
    restore();
    layer.forward(out, x, ctx);
    double s = 0.0;
    for (size_t i = 0; i < out.numel(); ++i) s += static_cast<double>(out[i]) * r[i];
    return s;
  };

  std::ostringstream header;
  header << "gradient check failed: " << what << "\n  layer " << layer.type() << " '" << layer.name()
         << "' input " << x.shape().str() << " output " << out.shape().str() << " mode "
         << (cfg.mode == Mode::Train ? "train" : "eval") << " eps " << cfg.eps << " rel_tol " << cfg.rel_tol
         << " abs_tol " << cfg.abs_tol << "\n";
  std::ostringstream fails;
  int nfail = 0;

  // Analytic gradients on top of random prior gradients (backward must add, not overwrite).
  std::vector<Tensor> prior;
  for (auto& p : params)
    if (p.grad) {
      Tensor g(p.grad->shape());
      fill_uniform(g, rng);
      *p.grad = g;
      prior.push_back(g);
    }
  Tensor dx(x.shape());
  dx.fill(1e6f);  // garbage: backward must overwrite it
  f();
  layer.backward(&dx, r, x, out, ctx);
  std::vector<Tensor> analytic;
  {
    size_t j = 0;
    for (auto& p : params)
      if (p.grad) {
        Tensor a(p.grad->shape());
        for (size_t i = 0; i < a.numel(); ++i) a[i] = (*p.grad)[i] - prior[j][i];
        analytic.push_back(a);
        ++j;
      }
  }
  if (dx.shape() != x.shape()) {
    fails << "  dinput has shape " << dx.shape().str() << ", input " << x.shape().str() << "\n";
    ++nfail;
  }

  // A second backward without dinput must add the same parameter gradients again.
  layer.backward(nullptr, r, x, out, ctx);
  {
    size_t j = 0;
    for (auto& p : params)
      if (p.grad) {
        for (size_t i = 0; i < p.grad->numel(); ++i) {
          const double twice = static_cast<double>((*p.grad)[i]) - prior[j][i];
          const double a = analytic[j][i];
          // Float rounding of the accumulation: a few ulps of the accumulator's magnitude.
          const double tol = 1e-5 * (std::fabs(prior[j][i]) + 2 * std::fabs(a) + 1.0);
          if (std::fabs(twice - 2 * a) > tol) {
            fails << "  " << p.name << describe_index(p.grad->shape(), i)
                  << ": second backward (dinput=nullptr) did not add the same gradient: first " << a
                  << ", both " << twice << "\n";
            ++nfail;
            break;
          }
        }
        ++j;
      }
  }

  auto check_tensor = [&](const std::string& name, Tensor& t, const Tensor& grad) {
    std::vector<size_t> idx(t.numel());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    if (idx.size() > static_cast<size_t>(cfg.max_checks)) {
      std::shuffle(idx.begin(), idx.end(), rng);
      idx.resize(static_cast<size_t>(cfg.max_checks));
    }
    for (size_t i : idx) {
      const float orig = t[i];
      const float up = static_cast<float>(orig + cfg.eps), down = static_cast<float>(orig - cfg.eps);
      t[i] = up;
      const double fp = f();
      t[i] = down;
      const double fm = f();
      t[i] = orig;
      // Divide by the step actually taken in float, not by 2*eps.
      const double numeric = (fp - fm) / (static_cast<double>(up) - down);
      const double a = grad[i];
      const double tol = cfg.abs_tol + cfg.rel_tol * std::max(std::fabs(a), std::fabs(numeric));
      if (!(std::fabs(a - numeric) <= tol)) {
        fails << "  " << name << describe_index(t.shape(), i) << " value " << orig << ": analytic " << a
              << " numeric " << numeric << " diff " << std::fabs(a - numeric) << " tol " << tol << "\n";
        ++nfail;
      }
    }
  };
  if (dx.shape() == x.shape()) check_tensor("input", x, dx);
  {
    size_t j = 0;
    for (auto& p : params)
      if (p.grad) check_tensor(p.name, *p.value, analytic[j++]);
  }
  restore();
  if (nfail == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << header.str() << fails.str();
}

// The same check for a layer with several inputs (add, concat): every input gets its own
// gradient, compared with central differences; dinputs are pre-filled with garbage (backward
// must overwrite them).
inline ::testing::AssertionResult check_layer_inputs(Layer& layer, const std::vector<Tensor>& inputs,
                                                     const Config& cfg, const std::string& what) {
  std::mt19937_64 rng(cfg.seed);
  Workspace ws;
  Context ctx;
  ctx.mode = cfg.mode;
  ctx.workspace = &ws;
  std::vector<Tensor> x = inputs;
  std::vector<const Tensor*> in;
  for (auto& t : x) in.push_back(&t);
  Tensor out;
  layer.forward_inputs(out, in, ctx);
  Tensor r(out.shape());
  fill_uniform(r, rng);
  auto f = [&]() {
    layer.forward_inputs(out, in, ctx);
    double s = 0.0;
    for (size_t i = 0; i < out.numel(); ++i) s += static_cast<double>(out[i]) * r[i];
    return s;
  };
  std::vector<Tensor> dx(x.size());
  std::vector<Tensor*> din;
  for (size_t k = 0; k < x.size(); ++k) {
    dx[k] = Tensor(x[k].shape());
    dx[k].fill(1e6f);
    din.push_back(&dx[k]);
  }
  f();
  layer.backward_inputs(din, r, in, out, ctx);
  std::ostringstream fails;
  int nfail = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    if (dx[k].shape() != x[k].shape()) {
      fails << "  dinput " << k << " has shape " << dx[k].shape().str() << ", input " << x[k].shape().str() << "\n";
      ++nfail;
      continue;
    }
    std::vector<size_t> idx(x[k].numel());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    if (idx.size() > static_cast<size_t>(cfg.max_checks)) {
      std::shuffle(idx.begin(), idx.end(), rng);
      idx.resize(static_cast<size_t>(cfg.max_checks));
    }
    for (size_t i : idx) {
      const float orig = x[k][i];
      const float up = static_cast<float>(orig + cfg.eps), down = static_cast<float>(orig - cfg.eps);
      x[k][i] = up;
      const double fp = f();
      x[k][i] = down;
      const double fm = f();
      x[k][i] = orig;
      const double numeric = (fp - fm) / (static_cast<double>(up) - down);
      const double a = dx[k][i];
      const double tol = cfg.abs_tol + cfg.rel_tol * std::max(std::fabs(a), std::fabs(numeric));
      if (!(std::fabs(a - numeric) <= tol)) {
        fails << "  input " << k << describe_index(x[k].shape(), i) << ": analytic " << a << " numeric " << numeric
              << "\n";
        ++nfail;
      }
    }
  }
  if (nfail == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "gradient check failed: " << what << " (" << layer.type() << " '"
                                       << layer.name() << "')\n"
                                       << fails.str();
}

// A whole model (graphs included): the gradient of f = sum(logits * R) with respect to every
// trainable parameter, from Model::backward, against central differences. Parameters that feed
// several layers through a shared tensor are where backward must add gradients up.
inline ::testing::AssertionResult check_model(Model& m, const Tensor& x, const Config& cfg, const std::string& what) {
  std::mt19937_64 rng(cfg.seed);
  std::mt19937_64 ctx_rng(cfg.rng_seed);
  Workspace ws;
  Context ctx;
  ctx.mode = cfg.mode;
  ctx.workspace = &ws;
  ctx.rng = &ctx_rng;
  std::vector<NamedParam> params = m.params();
  std::vector<Tensor> saved;
  for (auto& p : params)
    if (!p.grad) saved.push_back(*p.value);
  auto restore = [&]() {
    size_t b = 0;
    for (auto& p : params)
      if (!p.grad) *p.value = saved[b++];
    ctx_rng.seed(cfg.rng_seed);
  };
  restore();
  Tensor r(m.forward(x, ctx).shape());
  fill_uniform(r, rng);
  auto f = [&]() {
    restore();
    const Tensor& out = m.forward(x, ctx);
    double s = 0.0;
    for (size_t i = 0; i < out.numel(); ++i) s += static_cast<double>(out[i]) * r[i];
    return s;
  };
  m.zero_grad();
  f();
  m.backward(r, ctx);
  std::vector<Tensor> analytic;
  for (auto& p : params)
    if (p.grad) analytic.push_back(*p.grad);
  std::ostringstream fails;
  int nfail = 0;
  size_t j = 0;
  for (auto& p : params) {
    if (!p.grad) continue;
    Tensor& t = *p.value;
    const Tensor& g = analytic[j++];
    std::vector<size_t> idx(t.numel());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    if (idx.size() > static_cast<size_t>(cfg.max_checks)) {
      std::shuffle(idx.begin(), idx.end(), rng);
      idx.resize(static_cast<size_t>(cfg.max_checks));
    }
    for (size_t i : idx) {
      const float orig = t[i];
      const float up = static_cast<float>(orig + cfg.eps), down = static_cast<float>(orig - cfg.eps);
      t[i] = up;
      const double fp = f();
      t[i] = down;
      const double fm = f();
      t[i] = orig;
      const double numeric = (fp - fm) / (static_cast<double>(up) - down);
      const double a = g[i];
      const double tol = cfg.abs_tol + cfg.rel_tol * std::max(std::fabs(a), std::fabs(numeric));
      if (!(std::fabs(a - numeric) <= tol)) {
        fails << "  " << p.name << describe_index(t.shape(), i) << ": analytic " << a << " numeric " << numeric
              << " tol " << tol << "\n";
        ++nfail;
      }
    }
  }
  restore();
  if (nfail == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "model gradient check failed: " << what << "\n" << fails.str();
}

}  // namespace gradcheck
}  // namespace trim
