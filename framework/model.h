// model.h - a model: an input shape, layers in topological order, class names.
//
// Most models are chains (each layer reads the one before it). A layer may instead name its
// inputs (`from=` in a description; add and concat take several), which makes the model a
// graph: build() resolves the names, orders the layers so every layer comes after its inputs,
// and keeps each layer's input and consumer lists. Parameters live in one
// contiguous block, gradients in a second block of the same layout (llm.c), so SGD, zeroing
// and saving are flat loops.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "framework/layer.h"
#include "framework/tensor.h"

namespace trim {

struct NamedParam {
  std::string name;  // "<layer>.<param>", e.g. "conv1.weight"
  Tensor* value;
  Tensor* grad;  // nullptr for buffers (BN running statistics)
  bool decay;
};

class Model {
 public:
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  Shape input;  // C, H, W of one sample
  std::vector<std::unique_ptr<Layer>> layers;
  std::vector<std::string> class_names;  // may be empty; size == classes() when set

  void add(std::unique_ptr<Layer> layer);  // names it "<type><index>" if unnamed
  // Resolves every layer's inputs (Layer::input_names(); empty: the layer added before it; the
  // name "input" is the model input unless a layer has that name), orders the layers
  // topologically, runs every layer's setup() in order, checks shapes, and moves all parameters
  // into one block. Must be called after the last add() and before anything else. An unknown
  // input, a cycle, a wrong number of inputs, a shape mismatch or an output nobody reads is an
  // Error naming the layer's file, line and key.
  void build();
  bool built() const { return built_; }
  // The graph (valid after build()): indices into layers; -1 is the model input.
  const std::vector<int>& inputs_of(size_t i) const { return inputs_[i]; }
  const std::vector<int>& consumers_of(size_t i) const { return consumers_[i]; }  // -1: never
  // True when every layer reads exactly the layer before it (the first: the model input).
  bool is_chain() const;
  // The first layer that does not just read the layer before it (-1 for a chain): what an
  // inference path that only runs chains names in its error.
  int first_graph_layer() const;
  // Layer i's description as a model file holds it: type, name, `from=` when its inputs are
  // not just the layer before, and its own keys.
  LayerDesc layer_desc(size_t i) const;
  void init_params(uint64_t seed);  // default initialisation of every layer

  int classes() const;  // output channels of the last layer
  Shape output_shape() const;
  int64_t macs() const;       // per sample
  size_t num_params() const;  // trainable parameters (buffers excluded)
  std::vector<NamedParam> params();  // trainable + buffers, in layer order
  Layer* find(const std::string& layer_name);
  int index_of(const std::string& layer_name) const;  // -1 if absent

  // Forward for a batch; keeps every activation for backward. Returns the logits (N x K x 1 x 1).
  // A [batchnorm] directly followed by a [relu] runs as one step (BatchNorm2d::forward_relu):
  // the same results, one pass less, and the BN output is not kept.
  const Tensor& forward(const Tensor& x, Context& ctx);
  // Backward from dlogits; accumulates parameter gradients (call zero_grad() first).
  void backward(const Tensor& dlogits, Context& ctx);
  void zero_grad();

  // false: every layer runs on its own (the reference the fused steps are tested against).
  bool fuse_bn_relu = true;

  // Told by forward() and backward() after each step: one layer, or a fused pair [first, last].
  struct StepObserver {
    virtual ~StepObserver() = default;
    virtual void step_done(size_t first, size_t last, bool backward) = 0;
  };
  StepObserver* observer = nullptr;  // not owned; for per-layer timing (bench/train_step)

  // Flat blocks (valid after build()): trainable parameters, their gradients; buffers apart.
  Tensor& param_block() { return param_block_; }
  Tensor& grad_block() { return grad_block_; }
  std::vector<uint8_t> decay_mask() const;  // per element of param_block: 1 if decayed

  // A deep copy (same description, same weights), built.
  Model clone() const;
  // One line per layer: name, type, output shape, params, MACs.
  std::string summary() const;

 private:
  bool built_ = false;
  Tensor param_block_, grad_block_, buffer_block_;
  // The last layer of the step that starts at layer i: i + 1 for a fusable BN + ReLU pair.
  size_t step_end(size_t i) const;

  std::vector<std::vector<int>> inputs_, consumers_;
  std::vector<Tensor> acts_;   // acts_[i] = output of layer i (unused for a fused BN)
  std::vector<uint8_t> bn_relu_;  // bn_relu_[i]: layer i is a BN fusable with the ReLU at i + 1
  // Backward: the gradient of layer i's output lives in grads_[grad_slot_[i]] from the step of
  // its last consumer to its own step; slots are reused by lifetime (a chain needs two: the
  // ping-pong of a sequential model). A gradient that several consumers feed is summed: the
  // first writes the slot, the others write scratch_ and are added in.
  std::vector<Tensor> grads_;
  std::vector<int> grad_slot_;
  std::vector<uint8_t> grad_ready_;
  std::vector<Tensor> scratch_;
  std::vector<std::vector<const Tensor*>> in_ptrs_;  // per layer, reused every step (no allocation)
  std::vector<std::vector<Tensor*>> din_ptrs_;
  const Tensor* input_ = nullptr;
  int planned_fuse_ = -1;  // fuse_bn_relu the gradient slots were planned for (-1: none yet)
  void resolve_graph();  // names -> indices, topological order (part of build())
  void plan_backward();
};

}  // namespace trim
