// layer.h - the small interface every layer implements (in the spirit of ncnn's layer.h).
//
// A layer reads its hyper-parameters from a LayerDesc (a section of a text model description),
// owns its parameters (views into the model's flat parameter block once the model is built),
// and has forward and backward side by side. Activations are NCHW for the whole batch.
//
// Conventions (llm.c): outputs first, then saved state, inputs. backward() ADDS into parameter
// gradients (zeroing is one explicit call on the model) and OVERWRITES dinput.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace trim {

// One [section] of a model description: type, ordered key=value pairs, where it came from.
struct LayerDesc {
  std::string type;
  std::vector<std::pair<std::string, std::string>> kv;
  std::string file;  // for error messages
  int line = 0;      // line of the [type] header

  bool has(const std::string& key) const;
  std::string get(const std::string& key, const std::string& dflt) const;
  int get_int(const std::string& key, int dflt) const;       // throws Error naming file:line:key
  float get_float(const std::string& key, float dflt) const;  // on a malformed value
  int require_int(const std::string& key) const;              // throws if missing
  void set(const std::string& key, const std::string& value);
  void set(const std::string& key, int value) { set(key, std::to_string(value)); }
  std::string where() const;  // "file:line [type]"
  std::string where(const std::string& key) const;  // "file:<line of key> [type]"
  std::vector<int> kv_lines;  // line of each kv entry (parallel to kv; may be empty)
};

// A trainable parameter or a saved buffer (BN running statistics: grad == nullptr).
struct ParamRef {
  std::string name;  // local name: "weight", "bias", "gamma", "beta", "running_mean", ...
  Tensor* value = nullptr;
  Tensor* grad = nullptr;  // nullptr for buffers that are saved but not trained
  bool decay = true;       // weight decay applies (false for BN and bias by default)
};

enum class Mode { Train, Eval };

// Scratch memory shared by all layers of a model (darknet's network workspace): grows during
// the first batch, then is reused, so the training step allocates nothing afterwards.
class Workspace {
 public:
  float* get(size_t n_floats);
  size_t capacity() const { return buf_.numel(); }

 private:
  Tensor buf_;
};

class Communicator;

struct Context {
  Mode mode = Mode::Eval;
  Workspace* workspace = nullptr;
  std::mt19937_64* rng = nullptr;  // dropout masks; seeded by the trainer
  // Data-parallel training: this process holds samples [batch_offset, batch_offset + N) of a
  // global batch of global_batch samples (0: the batch is the whole batch), so that per-sample
  // random streams (dropout) are those of a single process. bn_sync, when set, makes training-
  // mode batch norm use the statistics of the global batch (sums over every process).
  size_t batch_offset = 0, global_batch = 0;
  Communicator* bn_sync = nullptr;
};

class Layer {
 public:
  virtual ~Layer() = default;

  virtual std::string type() const = 0;  // the [section] name in a model description
  const std::string& name() const { return name_; }
  void set_name(const std::string& n) { name_ = n; }

  // Called once with one sample's input shape (C, H, W). Creates the parameters (zero) and
  // returns one sample's output shape. Throws Error naming the layer on a mismatch.
  virtual Shape setup(const Shape& in) = 0;
  const Shape& in_shape() const { return in_shape_; }
  const Shape& out_shape() const { return out_shape_; }

  // Fills parameters with the layer's default initialisation (He for conv/linear, 1/0 for BN).
  virtual void init_params(std::mt19937_64& rng) { (void)rng; }

  // out is resized by the layer to N x out_shape.
  virtual void forward(Tensor& out, const Tensor& in, Context& ctx) = 0;
  // dinput may be nullptr (first layer: no input gradient needed).
  virtual void backward(Tensor* dinput, const Tensor& doutput, const Tensor& in,
                        const Tensor& out, Context& ctx) = 0;

  virtual std::vector<ParamRef> params() { return {}; }
  // Hyper-parameters for the model description, excluding name (written by the model).
  virtual void write_desc(LayerDesc& d) const { (void)d; }
  // Multiply-accumulates for one sample (0 for layers that do no multiplies).
  virtual int64_t macs() const { return 0; }

 protected:
  std::string name_;
  Shape in_shape_, out_shape_;
};

// Creates a layer from its description (type and keys). Unknown type or key: Error naming
// file, line and key.
std::unique_ptr<Layer> make_layer(const LayerDesc& desc);

}  // namespace trim
