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

// What a layer does to the channels it reads, as pruning's dependency analysis sees it
// (pruning/dependency.h). Each layer type states its own role, so the analysis, surgery and the
// passes never list layer types.
enum class ChannelRole {
  Opaque,       // channels cannot be followed through it (a grouped, non-depthwise conv)
  Source,       // makes its own output channels from all input channels (standard conv, linear):
                // output channel f is filter f (axis 0 of its parameters); it consumes its input
                // channels as axis 1 of its weight
  Follower,     // channel f in is channel f out, with per-channel parameters on axis 0 (BN,
                // depthwise conv)
  Passthrough,  // channel f in is channel f out, no parameters (ReLU, pools, dropout)
  Flatten,      // C x H x W -> C*H*W features: channel c becomes H*W consecutive features
  Sum,          // elementwise sum of inputs of one shape: inputs and output share one channel set
  Concat,       // output channels are the inputs' channels one after another
};

// Scratch memory shared by all layers of a model (darknet's network workspace): grows during
// the first batch, then is reused, so the training step allocates nothing afterwards.
class Workspace {
 public:
  // The largest block: 2^31 - 1 floats (8 GiB). Layers check their request against it first and
  // name themselves (see checked_workspace in layers/shape_checks.h); get() refuses a larger one.
  static constexpr size_t kMaxFloats = 0x7fffffff;
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

  // The layers this one reads, by name, in order (`from=` in a description); empty: the layer
  // before it. `from_where` locates the key for error messages.
  const std::vector<std::string>& input_names() const { return input_names_; }
  void set_input_names(std::vector<std::string> names, std::string from_where = "") {
    input_names_ = std::move(names);
    from_where_ = std::move(from_where);
  }
  const std::string& from_where() const { return from_where_; }
  const std::string& desc_where() const { return desc_where_; }  // "file:line [type]" of its section
  void set_desc_where(std::string w) { desc_where_ = std::move(w); }
  // How many inputs the layer takes (add and concat: two or more).
  virtual int min_inputs() const { return 1; }
  virtual int max_inputs() const { return 1; }

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

  // The same for any number of inputs (graph models). A single-input layer gets in[0] and
  // dinputs[0]; add and concat override these. Entries of dinputs may be nullptr (no gradient
  // wanted for that input); backward overwrites the others.
  virtual Shape setup_inputs(const std::vector<Shape>& in) { return setup(in.at(0)); }
  virtual void forward_inputs(Tensor& out, const std::vector<const Tensor*>& in, Context& ctx) {
    forward(out, *in[0], ctx);
  }
  virtual void backward_inputs(const std::vector<Tensor*>& dinputs, const Tensor& doutput,
                               const std::vector<const Tensor*>& in, const Tensor& out, Context& ctx) {
    backward(dinputs[0], doutput, *in[0], out, ctx);
  }

  // Training-time fusion: true when this layer and a ReLU that is the only reader of its output
  // can run as one step (forward_relu/backward_relu, with the results of the two layers).
  virtual bool fuses_relu() const { return false; }
  virtual void forward_relu(Tensor& out, const Tensor& in, Context& ctx);
  virtual void backward_relu(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                             Context& ctx);
  virtual bool is_relu() const { return false; }  // max(x, 0) and nothing else

  // Pruning: the role (above), and for a Source or a depthwise Follower, the description with
  // `channels` output channels (the keys that hold the count).
  virtual ChannelRole channel_role() const { return ChannelRole::Opaque; }
  virtual void set_out_channels(LayerDesc& d, int channels) const {
    (void)d;
    (void)channels;
  }

  // A Follower that scales each channel (BN's gamma): what the bn_gamma criterion ranks by.
  virtual const Tensor* channel_scale() const { return nullptr; }
  // For an Opaque layer: why channels stop at it, as "the ... 'name' ..." for pruning's notes.
  virtual std::string opaque_reason() const {
    return "'" + name_ + "' of type '" + type() + "', which the analysis does not know";
  }

  virtual std::vector<ParamRef> params() { return {}; }
  // Hyper-parameters for the model description, excluding name (written by the model).
  virtual void write_desc(LayerDesc& d) const { (void)d; }
  // Multiply-accumulates for one sample (0 for layers that do no multiplies).
  virtual int64_t macs() const { return 0; }

 protected:
  std::string name_;
  Shape in_shape_, out_shape_;
  std::vector<std::string> input_names_;
  std::string from_where_, desc_where_;
};

// Creates a layer from its description (type and keys; `name` and `from` apply to every type). Unknown type or key: Error naming
// file, line and key.
std::unique_ptr<Layer> make_layer(const LayerDesc& desc);

}  // namespace trim
