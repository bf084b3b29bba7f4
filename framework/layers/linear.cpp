// linear.cpp - Linear (y = x W^T + b) and Flatten.
//
// The GEMMs are split across OpenMP threads by hand (OpenBLAS runs single-threaded inside
// trim): forward and input gradient by batch rows, weight gradient by output features. Each
// output element is then computed by exactly one call whatever the thread count, so results
// do not depend on it.
#include "framework/layers/linear.h"
#include "framework/layers/shape_checks.h"
#include "framework/parallel.h"

#include <omp.h>

#include <cmath>
#include <cstring>

#include "framework/blas.h"

namespace trim {

namespace {

std::string who(const std::string& name) { return "linear '" + name + "'"; }

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 16;

}  // namespace

Linear::Linear(int out_features_, bool bias_) : out_features(out_features_), has_bias(bias_) {
  if (out_features <= 0) throw Error("linear: out must be > 0, got " + std::to_string(out_features));
}

Linear::Linear(const LayerDesc& d) {
  out_features = d.require_int("out");
  int b = d.get_int("bias", 1);
  if (out_features <= 0) throw Error(d.where() + ": key 'out' must be > 0, got '" + d.get("out", "") + "'");
  if (b != 0 && b != 1) throw Error(d.where() + ": key 'bias' must be 0 or 1, got '" + d.get("bias", "") + "'");
  has_bias = b != 0;
}

Shape Linear::setup(const Shape& in) {
  if (in.rank() != 3 || in[1] != 1 || in[2] != 1 || in[0] <= 0)
    throw Error(who(name_) + ": input must be features x 1 x 1 (put a flatten before it), got " + in.str());
  Shape ws{out_features, in[0]};
  check_param_size(ws, who(name_));
  in_features = in[0];
  in_shape_ = in;
  out_shape_ = Shape{out_features, 1, 1};
  weight = Tensor(ws);
  dweight = Tensor(ws);
  if (has_bias) {
    bias = Tensor(Shape{out_features});
    dbias = Tensor(Shape{out_features});
  } else {
    bias = Tensor();
    dbias = Tensor();
  }
  return out_shape_;
}

void Linear::init_params(std::mt19937_64& rng) {
  // PyTorch's default: kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), so the
  // reference run's recipe transfers. Bias starts at 0.
  const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(in_features)));
  std::uniform_real_distribution<float> dist(-bound, bound);
  for (float& v : weight) v = dist(rng);
  if (has_bias) bias.zero();
}

std::vector<ParamRef> Linear::params() {
  std::vector<ParamRef> p;
  p.push_back({"weight", &weight, &dweight, true});
  if (has_bias) p.push_back({"bias", &bias, &dbias, false});
  return p;
}

void Linear::write_desc(LayerDesc& d) const {
  d.set("out", out_features);
  d.set("bias", has_bias ? 1 : 0);
}

int64_t Linear::macs() const { return static_cast<int64_t>(in_features) * out_features; }

void Linear::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "linear", name_);
  const int n = in.dim(0), k = in_features, m = out_features;
  resize4(out, n, m, 1, 1);
  const float* x = in.data();
  const float* w = weight.data();
  const float* b = has_bias ? bias.data() : nullptr;
  float* y = out.data();
  parallel_region(n * macs() >= kParallelMin, [&](int tid, int nt) {
    int i0, i1;
    thread_range(n, tid, nt, i0, i1);
    if (i1 > i0) {
      float* yr = y + static_cast<size_t>(i0) * m;
      sgemm(false, true, i1 - i0, m, k, 1.f, x + static_cast<size_t>(i0) * k, k, w, k, 0.f, yr, m);
      if (b)
        for (int i = i0; i < i1; ++i) {
          float* row = y + static_cast<size_t>(i) * m;
          for (int o = 0; o < m; ++o) row[o] += b[o];
        }
    }
  });
}

void Linear::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                      Context& ctx) {
  check_input(in, in_shape_, "linear", name_);
  const int n = in.dim(0), k = in_features, m = out_features;
  check_doutput(doutput, n, out_shape_, "linear", name_);
  if (dinput) dinput->resize(in.shape());
  const float* x = in.data();
  const float* w = weight.data();
  const float* dy = doutput.data();
  float* dw = dweight.data();
  float* db = has_bias ? dbias.data() : nullptr;
  float* dx = dinput ? dinput->data() : nullptr;
  parallel_region(n * macs() >= kParallelMin, [&](int tid, int nt) {
    int o0, o1;
    thread_range(m, tid, nt, o0, o1);
    if (o1 > o0) {
      // dW[o0:o1] += dY[:, o0:o1]^T * X
      sgemm(true, false, o1 - o0, k, n, 1.f, dy + o0, m, x, k, 1.f, dw + static_cast<size_t>(o0) * k, k);
      if (db)
        for (int o = o0; o < o1; ++o) {
          float s = 0.f;
          for (int i = 0; i < n; ++i) s += dy[static_cast<size_t>(i) * m + o];
          db[o] += s;
        }
    }
    if (dx) {
      int i0, i1;
      thread_range(n, tid, nt, i0, i1);
      // dX[i0:i1] = dY[i0:i1] * W
      if (i1 > i0)
        sgemm(false, false, i1 - i0, k, m, 1.f, dy + static_cast<size_t>(i0) * m, m, w, k, 0.f,
              dx + static_cast<size_t>(i0) * k, k);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Flatten: NCHW is already channel-major per sample, so flattening is a copy under a new shape.

Flatten::Flatten(const LayerDesc& d) { (void)d; }

Shape Flatten::setup(const Shape& in) {
  if (in.rank() != 3 || in.numel() == 0)
    throw Error("flatten '" + name_ + "': input must be channels x height x width, got " + in.str());
  in_shape_ = in;
  out_shape_ = Shape{static_cast<int>(in.numel()), 1, 1};
  return out_shape_;
}

void Flatten::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "flatten", name_);
  resize4(out, in.dim(0), out_shape_[0], 1, 1);
  std::memcpy(out.data(), in.data(), sizeof(float) * in.numel());
}

void Flatten::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                       Context& ctx) {
  check_input(in, in_shape_, "flatten", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "flatten", name_);
  if (!dinput) return;
  dinput->resize(in.shape());
  std::memcpy(dinput->data(), doutput.data(), sizeof(float) * doutput.numel());
}

}  // namespace trim
