// model.h - a sequential model: an input shape, an ordered list of layers, class names.
//
// SICK-Net and MobileNet V1 (and anything else trim trains, prunes and deploys) are chains of
// layers, so the graph is a list; pruning's dependency analysis walks it. Parameters live in one
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
  // Runs every layer's setup() in order, checks shapes, and moves all parameters into one
  // block. Must be called after the last add() and before anything else.
  void build();
  bool built() const { return built_; }
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

  std::vector<Tensor> acts_;   // acts_[i] = output of layer i (unused for a fused BN)
  std::vector<uint8_t> bn_relu_;  // bn_relu_[i]: layer i is a BN fusable with the ReLU at i + 1
  std::vector<Tensor> grads_;  // two ping-pong activation gradient buffers
  const Tensor* input_ = nullptr;
};

}  // namespace trim
