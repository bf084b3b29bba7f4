// dropout.cpp - inverted dropout: kept elements are scaled by 1/(1-p) at training time so that
// evaluation is the identity.
#include "framework/layers/dropout.h"
#include "framework/layers/shape_checks.h"
#include "framework/parallel.h"

#include <cstdio>
#include <cstring>

namespace trim {

Dropout::Dropout(float p_) : p(p_) {
  if (!(p >= 0.f && p <= 1.f)) throw Error("dropout: p must be in [0, 1], got " + std::to_string(p));
}

Dropout::Dropout(const LayerDesc& d) {
  p = d.get_float("p", 0.5f);
  if (!(p >= 0.f && p <= 1.f)) throw Error(d.where() + ": key 'p' must be in [0, 1], got '" + d.get("p", "") + "'");
}

Shape Dropout::setup(const Shape& in) {
  if (in.rank() != 3 || in.numel() == 0)
    throw Error("dropout '" + name_ + "': input must be channels x height x width, got " + in.str());
  in_shape_ = out_shape_ = in;
  return out_shape_;
}

void Dropout::write_desc(LayerDesc& d) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(p));  // round-trips a float exactly
  d.set("p", buf);
}

void Dropout::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "dropout", name_);
  out.resize(in.shape());
  const size_t n = in.numel();
  if (ctx.mode == Mode::Eval) {
    std::memcpy(out.data(), in.data(), sizeof(float) * n);
    return;
  }
  if (!ctx.rng) throw Error("dropout '" + name_ + "': training mode needs a random generator (Context::rng)");
  mask.resize(n);  // keeps its capacity: no reallocation once grown
  // Keep an element when a 32-bit uniform falls below (1-p) * 2^32; one 64-bit draw gives two.
  const uint64_t keep_below = static_cast<uint64_t>((1.0 - static_cast<double>(p)) * 4294967296.0);
  std::mt19937_64& rng = *ctx.rng;
  if (ctx.global_batch == 0) {
    for (size_t i = 0; i < n; i += 2) {
      const uint64_t r = rng();
      mask[i] = (r & 0xffffffffu) < keep_below;
      if (i + 1 < n) mask[i + 1] = (r >> 32) < keep_below;
    }
  } else {
    // This process holds elements [e0, e0 + n) of the global batch's n_all: draw exactly the
    // values a single process would use for them, and move the stream past the whole batch so
    // the next dropout layer starts where it would in a single process.
    const size_t per = n / static_cast<size_t>(in.dim(0) > 0 ? in.dim(0) : 1);
    const size_t e0 = ctx.batch_offset * per, n_all = ctx.global_batch * per;
    rng.discard(e0 / 2);
    uint64_t r = (e0 & 1) ? rng() : 0;
    for (size_t i = 0, e = e0; i < n; ++i, ++e) {
      if ((e & 1) == 0) r = rng();
      mask[i] = ((e & 1) ? (r >> 32) : (r & 0xffffffffu)) < keep_below;
    }
    rng.discard((n_all + 1) / 2 - (e0 + n + 1) / 2);
  }
  // p == 1 drops everything; the scale is then never applied.
  const float scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
  const float* x = in.data();
  float* y = out.data();
  const uint8_t* m = mask.data();
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i] * scale;
    y[i] = m[i] ? v : 0.f;
  }
}

void Dropout::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                       Context& ctx) {
  check_input(in, in_shape_, "dropout", name_);
  check_doutput(doutput, in.dim(0), out_shape_, "dropout", name_);
  if (!dinput) return;
  dinput->resize(in.shape());
  const size_t n = doutput.numel();
  if (ctx.mode == Mode::Eval) {
    std::memcpy(dinput->data(), doutput.data(), sizeof(float) * n);
    return;
  }
  if (mask.size() != n) throw Error("dropout '" + name_ + "': backward without a matching training forward");
  const float scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
  const float* g = doutput.data();
  float* dx = dinput->data();
  const uint8_t* m = mask.data();
  for (size_t i = 0; i < n; ++i) {
    const float v = g[i] * scale;  // unconditional, so the select vectorises
    dx[i] = m[i] ? v : 0.f;
  }
}

}  // namespace trim
