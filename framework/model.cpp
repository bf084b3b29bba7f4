#include "framework/model.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

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

namespace {

// Where a layer's section is, for errors: "file:line [type]", or its name for layers made in code.
std::string where_of(const Layer& l) {
  return l.desc_where().empty() ? "layer '" + l.name() + "'" : l.desc_where();
}

std::string from_where_of(const Layer& l) {
  return l.from_where().empty() ? where_of(l) : l.from_where() + ": key 'from'";
}

}  // namespace

void Model::resolve_graph() {
  const size_t n = layers.size();
  std::map<std::string, int> index;
  for (size_t i = 0; i < n; ++i)
    if (!index.emplace(layers[i]->name(), static_cast<int>(i)).second)
      throw Error("duplicate layer name '" + layers[i]->name() + "'");
  // Inputs by the order the layers were added in; -1 is the model input.
  std::vector<std::vector<int>> in(n);
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = *layers[i];
    if (l.input_names().empty()) {
      in[i].push_back(static_cast<int>(i) - 1);
      continue;
    }
    for (const std::string& name : l.input_names()) {
      auto it = index.find(name);
      if (it == index.end()) {
        if (name == "input") {
          in[i].push_back(-1);
          continue;
        }
        throw Error(from_where_of(l) + ": layer '" + l.name() + "' reads unknown layer '" + name + "'");
      }
      if (it->second == static_cast<int>(i))
        throw Error(from_where_of(l) + ": layer '" + l.name() + "' reads itself (a cycle)");
      in[i].push_back(it->second);
    }
  }
  // Kahn's algorithm, always taking the earliest-added ready layer: a description that is already
  // in order keeps its order (every chain does).
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> readers(n);
  for (size_t i = 0; i < n; ++i)
    for (int j : in[i])
      if (j >= 0) {
        ++pending[i];
        readers[static_cast<size_t>(j)].push_back(static_cast<int>(i));
      }
  std::set<int> ready;
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.insert(static_cast<int>(i));
  std::vector<int> order;
  while (!ready.empty()) {
    const int i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (int r : readers[static_cast<size_t>(i)])
      if (--pending[static_cast<size_t>(r)] == 0) ready.insert(r);
  }
  if (order.size() < n) {
    std::string members;
    const Layer* first = nullptr;
    for (size_t i = 0; i < n; ++i)
      if (pending[i] > 0) {
        if (!first) first = layers[i].get();
        members += (members.empty() ? "'" : ", '") + layers[i]->name() + "'";
      }
    throw Error(from_where_of(*first) + ": the inputs of layers " + members +
                " form a cycle (or depend on one)");
  }
  std::vector<int> new_index(n);
  for (size_t k = 0; k < n; ++k) new_index[static_cast<size_t>(order[k])] = static_cast<int>(k);
  std::vector<std::unique_ptr<Layer>> sorted(n);
  inputs_.assign(n, {});
  for (size_t k = 0; k < n; ++k) {
    const size_t old = static_cast<size_t>(order[k]);
    sorted[k] = std::move(layers[old]);
    for (int j : in[old]) inputs_[k].push_back(j < 0 ? -1 : new_index[static_cast<size_t>(j)]);
  }
  layers = std::move(sorted);
  consumers_.assign(n, {});
  for (size_t k = 0; k < n; ++k)
    for (int j : inputs_[k])
      if (j >= 0) {
        auto& c = consumers_[static_cast<size_t>(j)];
        if (c.empty() || c.back() != static_cast<int>(k)) c.push_back(static_cast<int>(k));
      }
  for (size_t k = 0; k < n; ++k) {
    const Layer& l = *layers[k];
    const int got = static_cast<int>(inputs_[k].size());
    if (got < l.min_inputs() || got > l.max_inputs()) {
      const std::string want = l.min_inputs() == l.max_inputs()
                                   ? std::to_string(l.min_inputs())
                                   : std::to_string(l.min_inputs()) + " to " + std::to_string(l.max_inputs());
      throw Error(from_where_of(l) + ": layer '" + l.name() + "' (" + l.type() + ") takes " + want +
                  (l.max_inputs() == 1 ? " input" : " inputs") + ", got " + std::to_string(got) +
                  (l.input_names().empty() ? " (name them with from=a,b)" : ""));
    }
    if (k + 1 < n && consumers_[k].empty())
      throw Error(where_of(l) + ": the output of layer '" + l.name() +
                  "' is read by no layer (only the last layer's output is the model's output)");
  }
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
  resolve_graph();
  // Bounds that keep every later count in range: a sample's activations are indexed with int
  // (flatten, kernels), and with at most 2^28 parameters the MACs cannot overflow int64.
  const int64_t max_params = int64_t(1) << 28;
  int64_t params = 0;
  std::vector<Shape> shapes;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto& l = layers[i];
    try {
      shapes.clear();
      for (int j : inputs_[i]) shapes.push_back(j < 0 ? input : layers[static_cast<size_t>(j)]->out_shape());
      const Shape s = l->setup_inputs(shapes);
      if (s.numel() > size_t(INT32_MAX)) throw Error("output " + s.str() + " is too large for one sample");
      for (auto& p : l->params()) params += static_cast<int64_t>(p.value->numel());
      if (params > max_params)
        throw Error("the model reaches " + std::to_string(params) + " parameters here, more than the " +
                    std::to_string(max_params) + " allowed");
    } catch (const Error& e) {
      // A layer that names its inputs: the error is about those inputs as often as not.
      if (!l->from_where().empty())
        throw Error(l->from_where() + ": key 'from': layer '" + l->name() + "' (" + l->type() + "): " + e.what());
      throw Error("layer '" + l->name() + "' (" + l->type() + "): " + e.what());
    }
  }
  const Shape s = layers.back()->out_shape();
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
  const size_t n = layers.size();
  acts_.resize(n);
  bn_relu_.assign(n, 0);
  // A layer that fuses with a ReLU (BN) runs as one step with it when the ReLU comes right after
  // it, reads only it, and is its only reader (the BN output is then never needed).
  for (size_t i = 0; i + 1 < n; ++i)
    bn_relu_[i] = layers[i]->fuses_relu() && layers[i + 1]->is_relu() &&
                  inputs_[i + 1] == std::vector<int>{static_cast<int>(i)} &&
                  consumers_[i] == std::vector<int>{static_cast<int>(i + 1)};
  in_ptrs_.assign(n, {});
  din_ptrs_.assign(n, {});
  size_t max_in = 1;
  for (size_t i = 0; i < n; ++i) {
    in_ptrs_[i].assign(inputs_[i].size(), nullptr);
    din_ptrs_[i].assign(inputs_[i].size(), nullptr);
    max_in = std::max(max_in, inputs_[i].size());
  }
  scratch_.resize(max_in);
  grad_ready_.assign(n, 0);
  planned_fuse_ = -1;
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
  // Every output is kept (backward reads them), so topological order is all the forward needs.
  for (size_t i = 0; i < layers.size();) {
    auto& in = in_ptrs_[i];
    for (size_t k = 0; k < in.size(); ++k) {
      const int j = inputs_[i][k];
      in[k] = j < 0 ? &x : &acts_[static_cast<size_t>(j)];
    }
    const size_t last = step_end(i);
    if (last != i)
      layers[i]->forward_relu(acts_[last], *in[0], ctx);
    else
      layers[i]->forward_inputs(acts_[i], in, ctx);
    if (observer) observer->step_done(i, last, false);
    i = last + 1;
  }
  return acts_.back();
}

void Model::plan_backward() {
  // Walk the steps backwards as backward() does: an input's gradient slot is taken at the step of
  // its last consumer (before that step's own slot is released, so a step never writes the slot
  // it reads) and released after the input's own step.
  const size_t n = layers.size();
  grad_slot_.assign(n, -1);
  std::vector<int> free_slots;
  int slots = 0;
  for (size_t last = n; last-- > 0;) {
    const size_t first = last > 0 && step_end(last - 1) == last ? last - 1 : last;
    for (int j : inputs_[first]) {
      if (j < 0 || grad_slot_[static_cast<size_t>(j)] >= 0) continue;
      if (free_slots.empty()) {
        grad_slot_[static_cast<size_t>(j)] = slots++;
      } else {
        grad_slot_[static_cast<size_t>(j)] = free_slots.back();
        free_slots.pop_back();
      }
    }
    if (grad_slot_[last] >= 0) free_slots.push_back(grad_slot_[last]);
    last = first;
  }
  grads_.resize(static_cast<size_t>(std::max(slots, 1)));
  planned_fuse_ = fuse_bn_relu ? 1 : 0;
}

void Model::backward(const Tensor& dlogits, Context& ctx) {
  if (!input_) throw Error("backward() before forward()");
  if (dlogits.shape() != acts_.back().shape())
    check_shape(dlogits.shape(), acts_.back().shape(), "model backward: dlogits");
  if (planned_fuse_ != (fuse_bn_relu ? 1 : 0)) plan_backward();
  std::fill(grad_ready_.begin(), grad_ready_.end(), 0);
  const size_t n = layers.size();
  for (size_t last = n; last-- > 0;) {
    const size_t first = last > 0 && step_end(last - 1) == last ? last - 1 : last;
    const Tensor& dout = last + 1 == n ? dlogits : grads_[static_cast<size_t>(grad_slot_[last])];
    const auto& ins = inputs_[first];
    auto& din = din_ptrs_[first];
    for (size_t k = 0; k < ins.size(); ++k) {
      const int j = ins[k];
      if (j < 0) {
        din[k] = nullptr;  // the model input needs no gradient
        continue;
      }
      bool again = grad_ready_[static_cast<size_t>(j)] != 0;
      for (size_t k2 = 0; k2 < k; ++k2) again = again || ins[k2] == j;
      din[k] = again ? &scratch_[k] : &grads_[static_cast<size_t>(grad_slot_[static_cast<size_t>(j)])];
    }
    if (first != last)
      layers[first]->backward_relu(din[0], dout, *in_ptrs_[first][0], acts_[last], ctx);
    else
      layers[last]->backward_inputs(din, dout, in_ptrs_[last], acts_[last], ctx);
    // A tensor read by several layers: the gradients of all its readers add up.
    for (size_t k = 0; k < ins.size(); ++k) {
      const int j = ins[k];
      if (j < 0) continue;
      if (din[k] == &scratch_[k]) {
        Tensor& g = grads_[static_cast<size_t>(grad_slot_[static_cast<size_t>(j)])];
        if (scratch_[k].shape() != g.shape())
          check_shape(scratch_[k].shape(), g.shape(), "model backward: gradient of '" + layers[static_cast<size_t>(j)]->name() + "'");
        float* gp = g.data();
        const float* sp = scratch_[k].data();
        for (size_t e = 0, ne = g.numel(); e < ne; ++e) gp[e] += sp[e];
      }
      grad_ready_[static_cast<size_t>(j)] = 1;
    }
    if (observer) observer->step_done(first, last, true);
    last = first;
  }
}

bool Model::is_chain() const { return first_graph_layer() < 0; }

int Model::first_graph_layer() const {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i].size() != 1 || inputs_[i][0] != static_cast<int>(i) - 1) return static_cast<int>(i);
  return -1;
}

LayerDesc Model::layer_desc(size_t i) const {
  const Layer& l = *layers.at(i);
  LayerDesc d;
  d.type = l.type();
  d.set("name", l.name());
  if (built_ && !(inputs_[i].size() == 1 && inputs_[i][0] == static_cast<int>(i) - 1)) {
    std::string from;
    for (int j : inputs_[i]) from += (from.empty() ? "" : ",") + (j < 0 ? std::string("input") : layers[static_cast<size_t>(j)]->name());
    d.set("from", from);
  } else if (!built_ && !l.input_names().empty()) {
    std::string from;
    for (const auto& nm : l.input_names()) from += (from.empty() ? "" : ",") + nm;
    d.set("from", from);
  }
  l.write_desc(d);
  return d;
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
