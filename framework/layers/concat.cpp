// concat.cpp - NCHW concatenation along C: per sample, each input's C*H*W block is copied after
// the previous one; backward copies the blocks back.
#include "framework/layers/concat.h"

#include <cstring>

#include "framework/layers/shape_checks.h"

namespace trim {

Concat::Concat(const LayerDesc& d) { (void)d; }

Shape Concat::setup(const Shape& in) { return setup_inputs({in}); }

void Concat::forward(Tensor&, const Tensor&, Context&) {
  throw Error("concat '" + name_ + "': needs two or more inputs (from=a,b)");
}

void Concat::backward(Tensor*, const Tensor&, const Tensor&, const Tensor&, Context&) {
  throw Error("concat '" + name_ + "': needs two or more inputs (from=a,b)");
}

Shape Concat::setup_inputs(const std::vector<Shape>& in) {
  if (in.size() < 2)
    throw Error("concat '" + name_ + "': needs two or more inputs (from=a,b), got " + std::to_string(in.size()));
  input_channels_.clear();
  int64_t channels = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k].rank() != 3 || in[k].numel() == 0)
      throw Error("concat '" + name_ + "': input " + std::to_string(k + 1) +
                  " must be channels x height x width, got " + in[k].str());
    if (in[k][1] != in[0][1] || in[k][2] != in[0][2]) {
      const std::string a = k < input_names_.size() ? "'" + input_names_[k] + "'" : "input " + std::to_string(k + 1);
      const std::string b = input_names_.empty() ? "input 1" : "'" + input_names_[0] + "'";
      throw Error("concat '" + name_ + "': " + a + " has shape " + in[k].str() + " but " + b + " has " +
                  in[0].str() + " (inputs of a concat must have the same height and width)");
    }
    channels += in[k][0];
    input_channels_.push_back(in[k][0]);
  }
  if (channels > 65536) throw Error("concat '" + name_ + "': " + std::to_string(channels) + " channels is too many");
  in_shape_ = in[0];
  out_shape_ = Shape{static_cast<int>(channels), in[0][1], in[0][2]};
  return out_shape_;
}

void Concat::forward_inputs(Tensor& out, const std::vector<const Tensor*>& in, Context& ctx) {
  (void)ctx;
  const int n = in[0]->rank() == 4 ? in[0]->dim(0) : 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const Shape want{input_channels_[k], out_shape_[1], out_shape_[2]};
    check_input(*in[k], want, "concat", name_);
    if (in[k]->dim(0) != n) throw Error("concat '" + name_ + "': inputs have different batch sizes");
  }
  resize4(out, n, out_shape_[0], out_shape_[1], out_shape_[2]);
  const size_t plane = static_cast<size_t>(out_shape_[1]) * out_shape_[2];
  const size_t per_out = static_cast<size_t>(out_shape_[0]) * plane;
  for (int i = 0; i < n; ++i) {
    float* dst = out.data() + static_cast<size_t>(i) * per_out;
    for (size_t k = 0; k < in.size(); ++k) {
      const size_t block = static_cast<size_t>(input_channels_[k]) * plane;
      std::memcpy(dst, in[k]->data() + static_cast<size_t>(i) * block, block * sizeof(float));
      dst += block;
    }
  }
}

void Concat::backward_inputs(const std::vector<Tensor*>& dinputs, const Tensor& doutput,
                             const std::vector<const Tensor*>& in, const Tensor& out, Context& ctx) {
  (void)in;
  (void)ctx;
  const int n = out.dim(0);
  check_doutput(doutput, n, out_shape_, "concat", name_);
  const size_t plane = static_cast<size_t>(out_shape_[1]) * out_shape_[2];
  const size_t per_out = static_cast<size_t>(out_shape_[0]) * plane;
  size_t offset = 0;
  for (size_t k = 0; k < dinputs.size(); ++k) {
    const size_t block = static_cast<size_t>(input_channels_[k]) * plane;
    if (Tensor* d = dinputs[k]) {
      resize4(*d, n, input_channels_[k], out_shape_[1], out_shape_[2]);
      for (int i = 0; i < n; ++i)
        std::memcpy(d->data() + static_cast<size_t>(i) * block, doutput.data() + static_cast<size_t>(i) * per_out + offset,
                    block * sizeof(float));
    }
    offset += block;
  }
}

}  // namespace trim
