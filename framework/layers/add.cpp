// add.cpp - out = in[0] + in[1] + ...; d in[k] = d out for every k. The sum runs in input order,
// so the result is the same float for float as adding the inputs one after another.
#include "framework/layers/add.h"

#include <cstring>

#include "framework/layers/shape_checks.h"
#include "framework/layers/simd_clones.h"

namespace trim {

namespace {

TRIM_SIMD_CLONES void add_into(float* y, const float* x, long n) {
  for (long i = 0; i < n; ++i) y[i] += x[i];
}

TRIM_SIMD_CLONES void sum2(float* y, const float* a, const float* b, long n) {
  for (long i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace

Add::Add(const LayerDesc& d) { (void)d; }

Shape Add::setup(const Shape& in) { return setup_inputs({in}); }

void Add::forward(Tensor&, const Tensor&, Context&) {
  throw Error("add '" + name_ + "': needs two or more inputs (from=a,b)");
}

void Add::backward(Tensor*, const Tensor&, const Tensor&, const Tensor&, Context&) {
  throw Error("add '" + name_ + "': needs two or more inputs (from=a,b)");
}

Shape Add::setup_inputs(const std::vector<Shape>& in) {
  if (in.size() < 2)
    throw Error("add '" + name_ + "': needs two or more inputs (from=a,b), got " + std::to_string(in.size()));
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k].rank() != 3 || in[k].numel() == 0)
      throw Error("add '" + name_ + "': input " + std::to_string(k + 1) + " must be channels x height x width, got " +
                  in[k].str());
    if (in[k] != in[0]) {
      const std::string a = k < input_names_.size() ? "'" + input_names_[k] + "'" : "input " + std::to_string(k + 1);
      const std::string b = input_names_.empty() ? "input 1" : "'" + input_names_[0] + "'";
      throw Error("add '" + name_ + "': " + a + " has shape " + in[k].str() + " but " + b + " has " + in[0].str() +
                  " (every input of an add must have the same shape)");
    }
  }
  in_shape_ = out_shape_ = in[0];
  return out_shape_;
}

void Add::forward_inputs(Tensor& out, const std::vector<const Tensor*>& in, Context& ctx) {
  (void)ctx;
  const int n = in[0]->rank() == 4 ? in[0]->dim(0) : 0;
  for (const Tensor* t : in) check_input(*t, in_shape_, "add", name_);
  for (const Tensor* t : in)
    if (t->dim(0) != n) throw Error("add '" + name_ + "': inputs have different batch sizes");
  resize4(out, n, in_shape_[0], in_shape_[1], in_shape_[2]);
  const long count = static_cast<long>(out.numel());
  sum2(out.data(), in[0]->data(), in[1]->data(), count);
  for (size_t k = 2; k < in.size(); ++k) add_into(out.data(), in[k]->data(), count);
}

void Add::backward_inputs(const std::vector<Tensor*>& dinputs, const Tensor& doutput,
                          const std::vector<const Tensor*>& in, const Tensor& out, Context& ctx) {
  (void)in;
  (void)ctx;
  const int n = out.dim(0);
  check_doutput(doutput, n, out_shape_, "add", name_);
  for (Tensor* d : dinputs) {
    if (!d) continue;
    resize4(*d, n, in_shape_[0], in_shape_[1], in_shape_[2]);
    if (doutput.numel()) std::memcpy(d->data(), doutput.data(), doutput.numel() * sizeof(float));
  }
}

}  // namespace trim
