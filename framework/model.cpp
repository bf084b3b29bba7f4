#include "framework/model.h"

#include <cstring>
#include <iomanip>
#include <set>
#include <sstream>

#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/model_file.h"

namespace trim {

namespace {
// Parameters start on 64-byte boundaries inside the blocks so vector kernels see aligned rows.
size_t align16(size_t n) { return (n + 15) / 16 * 16; }
}  // namespace

void Model::add(std::unique_ptr<Layer> layer) {
  if (built_) throw Error("cannot add layer '" + layer->name() + "' to a model that is already built");
  if (layer->name().empty()) layer->set_name(layer->type() + std::to_string(layers.size() + 1));
  layers.push_back(std::move(layer));
}

void Model::build() {
  if (built_) throw Error("model built twice");
  if (input.rank() != 3 || input.numel() == 0)
    throw Error("model input must be channels x height x width, got " + input.str());
  // The input is a sample's tensor like every layer's output below: the same bound, on the
  // product (each dimension alone may be in range while C x H x W is not).
  if (input.numel() > size_t(INT32_MAX))
    throw Error("model input " + input.str() + " has " + std::to_string(input.numel()) +
                " elements per sample, more than the 2^31 - 1 allowed");
  if (layers.empty()) throw Error("model has no layers");
  std::set<std::string> names;
  Shape s = input;
  // Bounds that keep every later count in range: a sample's activations are indexed with int
  // (flatten, kernels), and with at most 2^28 parameters the MACs cannot overflow int64.
  const int64_t max_params = int64_t(1) << 28;
  int64_t params = 0;
  for (auto& l : layers) {
    if (!names.insert(l->name()).second) throw Error("duplicate layer name '" + l->name() + "'");
    try {
      s = l->setup(s);
      if (s.numel() > size_t(INT32_MAX)) throw Error("output " + s.str() + " is too large for one sample");
      for (auto& p : l->params()) params += static_cast<int64_t>(p.value->numel());
      if (params > max_params)
        throw Error("the model reaches " + std::to_string(params) + " parameters here, more than the " +
                    std::to_string(max_params) + " allowed");
    } catch (const Error& e) {
      throw Error("layer '" + l->name() + "' (" + l->type() + "): " + e.what());
    }
  }
  if (s.rank() != 3 || s[1] != 1 || s[2] != 1)
    throw Error("the last layer '" + layers.back()->name() + "' must produce N x classes x 1 x 1, got " + s.str() +
                " (end the model with a linear layer or a global average pool)");

  // Move every parameter into one block, gradients into a second block of the same layout.
  size_t np = 0, nb = 0;
  for (auto& l : layers)
    for (auto& p : l->params()) (p.grad ? np : nb) += align16(p.value->numel());
  param_block_ = Tensor(Shape{static_cast<int>(std::max<size_t>(np, 1))});
  grad_block_ = Tensor(Shape{static_cast<int>(std::max<size_t>(np, 1))});
  buffer_block_ = Tensor(Shape{static_cast<int>(std::max<size_t>(nb, 1))});
  size_t op = 0, ob = 0;
  for (auto& l : layers) {
    for (auto& p : l->params()) {
      Shape shape = p.value->shape();
      size_t n = p.value->numel();
      if (p.grad) {
        Tensor v(shape, param_block_.data() + op), g(shape, grad_block_.data() + op);
        if (n) std::memcpy(v.data(), p.value->data(), n * sizeof(float));
        *p.value = std::move(v);
        *p.grad = std::move(g);
        op += align16(n);
      } else {
        Tensor v(shape, buffer_block_.data() + ob);
        if (n) std::memcpy(v.data(), p.value->data(), n * sizeof(float));
        *p.value = std::move(v);
        ob += align16(n);
      }
    }
  }
  acts_.resize(layers.size());
  grads_.resize(2);
  bn_relu_.assign(layers.size(), 0);
  for (size_t i = 0; i + 1 < layers.size(); ++i)
    bn_relu_[i] = dynamic_cast<BatchNorm2d*>(layers[i].get()) && dynamic_cast<ReLU*>(layers[i + 1].get());
  built_ = true;
}

void Model::init_params(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (auto& l : layers) l->init_params(rng);
}

int Model::classes() const { return output_shape()[0]; }

Shape Model::output_shape() const {
  if (!built_) throw Error("model is not built");
  return layers.back()->out_shape();
}

int64_t Model::macs() const {
  int64_t m = 0;
  for (const auto& l : layers) m += l->macs();
  return m;
}

size_t Model::num_params() const {
  size_t n = 0;
  for (const auto& l : layers)
    for (auto& p : const_cast<Layer&>(*l).params())
      if (p.grad) n += p.value->numel();
  return n;
}

std::vector<NamedParam> Model::params() {
  std::vector<NamedParam> out;
  for (auto& l : layers)
    for (auto& p : l->params()) out.push_back({l->name() + "." + p.name, p.value, p.grad, p.decay});
  return out;
}

Layer* Model::find(const std::string& layer_name) {
  int i = index_of(layer_name);
  return i < 0 ? nullptr : layers[static_cast<size_t>(i)].get();
}

int Model::index_of(const std::string& layer_name) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i]->name() == layer_name) return static_cast<int>(i);
  return -1;
}

size_t Model::step_end(size_t i) const { return fuse_bn_relu && bn_relu_[i] ? i + 1 : i; }

const Tensor& Model::forward(const Tensor& x, Context& ctx) {
  if (!built_) throw Error("model is not built");
  if (x.rank() != 4 || x.dim(1) != input[0] || x.dim(2) != input[1] || x.dim(3) != input[2])
    throw Error("model input: expected N x " + input.str() + ", got " + x.shape().str());
  input_ = &x;
  for (size_t i = 0; i < layers.size();) {
    const Tensor& in = i == 0 ? x : acts_[i - 1];
    const size_t last = step_end(i);
    if (last != i)
      static_cast<BatchNorm2d&>(*layers[i]).forward_relu(acts_[last], in, ctx);
    else
      layers[i]->forward(acts_[i], in, ctx);
    if (observer) observer->step_done(i, last, false);
    i = last + 1;
  }
  return acts_.back();
}

void Model::backward(const Tensor& dlogits, Context& ctx) {
  if (!input_) throw Error("backward() before forward()");
  if (dlogits.shape() != acts_.back().shape())
    check_shape(dlogits.shape(), acts_.back().shape(), "model backward: dlogits");
  const Tensor* dout = &dlogits;
  size_t buf = 0;  // the ping-pong buffer the next step writes (never the one it reads)
  for (size_t last = layers.size(); last-- > 0;) {
    const size_t first = last > 0 && step_end(last - 1) == last ? last - 1 : last;
    Tensor* din = first == 0 ? nullptr : &grads_[buf];
    buf ^= 1;
    const Tensor& in = first == 0 ? *input_ : acts_[first - 1];
    if (first != last)
      static_cast<BatchNorm2d&>(*layers[first]).backward_relu(din, *dout, in, acts_[last], ctx);
    else
      layers[last]->backward(din, *dout, in, acts_[last], ctx);
    if (observer) observer->step_done(first, last, true);
    dout = din;
    last = first;
  }
}

void Model::zero_grad() { grad_block_.zero(); }

std::vector<uint8_t> Model::decay_mask() const {
  std::vector<uint8_t> mask(param_block_.numel(), 0);
  for (const auto& l : layers)
    for (auto& p : const_cast<Layer&>(*l).params()) {
      if (!p.grad || !p.decay) continue;
      size_t off = static_cast<size_t>(p.value->data() - param_block_.data());
      std::memset(mask.data() + off, 1, p.value->numel());
    }
  return mask;
}

Model Model::clone() const {
  Model m = model_from_desc(model_to_desc(*this), "<clone>");
  m.class_names = class_names;
  auto src = const_cast<Model*>(this)->params();
  auto dst = m.params();
  for (size_t i = 0; i < src.size(); ++i) *dst[i].value = *src[i].value;
  return m;
}

std::string Model::summary() const {
  std::ostringstream s;
  s << std::left << std::setw(16) << "layer" << std::setw(14) << "type" << std::setw(18) << "output"
    << std::right << std::setw(12) << "params" << std::setw(14) << "MACs" << "\n";
  s << std::left << std::setw(16) << "input" << std::setw(14) << "" << std::setw(18) << input.str() << "\n";
  for (const auto& l : layers) {
    size_t np = 0;
    for (auto& p : const_cast<Layer&>(*l).params())
      if (p.grad) np += p.value->numel();
    s << std::left << std::setw(16) << l->name() << std::setw(14) << l->type() << std::setw(18)
      << l->out_shape().str() << std::right << std::setw(12) << np << std::setw(14) << l->macs() << "\n";
  }
  s << "total: " << num_params() << " parameters, " << macs() << " MACs per image\n";
  return s.str();
}

}  // namespace trim
