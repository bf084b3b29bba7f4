// shape_checks.h - the per-step shape checks every layer runs. They compare integers and build a
// message only on failure: strings allocate, and the training step must not.
#pragma once

#include <string>

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

// Resizes only when the shape changes, so a steady training loop builds no Shape.
inline void resize4(Tensor& t, int n, int c, int h, int w) {
  if (!has_dims(t, n, c, h, w)) t.resize(Shape{n, c, h, w});
}

}  // namespace trim
