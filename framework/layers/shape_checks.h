// shape_checks.h - the per-step shape checks every layer runs. They compare integers and build a
// message only on failure: strings allocate, and the training step must not.
#pragma once

#include <string>

#include "framework/layer.h"
#include "framework/tensor.h"

namespace trim {

inline bool has_dims(const Tensor& t, int n, int c, int h, int w) {
  return t.rank() == 4 && t.dim(0) == n && t.dim(1) == c && t.dim(2) == h && t.dim(3) == w;
}

// in must be N x want (want is one sample's C, H, W).
inline void check_input(const Tensor& in, const Shape& want, const char* type, const std::string& name) {
  if (in.rank() == 4 && in.dim(1) == want[0] && in.dim(2) == want[1] && in.dim(3) == want[2]) return;
  throw Error(std::string(type) + " '" + name + "': expected input N x " + want.str() + ", got " + in.shape().str());
}

inline void check_doutput(const Tensor& dout, int n, const Shape& want, const char* type, const std::string& name) {
  if (has_dims(dout, n, want[0], want[1], want[2])) return;
  throw Error(std::string(type) + " '" + name + "' backward: expected doutput " + std::to_string(n) + " x " +
              want.str() + ", got " + dout.shape().str());
}

// Output length of a sliding window (conv, pool) over `in` samples, 0 when the window does not
// fit. In 64 bits: in + 2 * pad overflows int when a description asks for absurd padding.
inline int64_t window_output(int in, int kernel, int stride, int pad) {
  const int64_t span = int64_t(in) + 2 * int64_t(pad);
  return span < kernel ? 0 : (span - kernel) / stride + 1;
}

// The largest parameter tensor a layer may create (2^27 floats, 512 MiB; VGG-16's largest has
// 103 M). Checked before allocating, so a description asking for more is an error, not an
// out-of-memory kill. Model::build bounds the whole model and each activation the same way.
constexpr size_t kMaxParamElements = size_t(1) << 27;
inline void check_param_size(const Shape& shape, const std::string& who) {
  const size_t elements = shape.numel();  // Error when even the count overflows
  if (elements > kMaxParamElements)
    throw Error(who + ": a parameter of shape " + shape.str() + " has " + std::to_string(elements) +
                " values, more than the " + std::to_string(kMaxParamElements) + " a layer may hold");
}

// Scratch for a layer step: `per_thread` floats for each of `threads` threads plus `shared`,
// counted in 64 bits with overflow checks and refused above Workspace::kMaxFloats with an Error
// naming the layer, before anything is allocated (a large batch times many threads can ask for
// more than fits). Builds no string unless it fails.
inline float* checked_workspace(Workspace& ws, size_t per_thread, int threads, size_t shared, const char* type,
                                const std::string& name) {
  size_t n = 0;
  const bool overflow = threads < 0 || __builtin_mul_overflow(per_thread, static_cast<size_t>(threads), &n) ||
                        __builtin_add_overflow(n, shared, &n);
  if (overflow || n > Workspace::kMaxFloats)
    throw Error(std::string(type) + " '" + name + "': needs a workspace of " + std::to_string(per_thread) +
                " floats per thread x " + std::to_string(threads) + " threads + " + std::to_string(shared) +
                (overflow ? " floats (overflows 64 bits)" : " floats = " + std::to_string(n)) + ", more than the " +
                std::to_string(Workspace::kMaxFloats) + " allowed (fewer threads or a smaller batch)");
  return ws.get(n);
}

// Resizes only when the shape changes, so a steady training loop builds no Shape.
inline void resize4(Tensor& t, int n, int c, int h, int w) {
  if (!has_dims(t, n, c, h, w)) t.resize(Shape{n, c, h, w});
}

}  // namespace trim
