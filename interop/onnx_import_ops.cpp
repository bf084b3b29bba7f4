// onnx_import_ops.cpp - one converter per ONNX op type, mapping a node onto trim layers.
// Each converter checks every attribute it is given against what the trim layer computes and
// rejects the rest by name: a silently different result is worse than an error.
#include <cmath>
#include <limits>

#include "interop/onnx_chain.h"

namespace trim {
namespace onnx_io {

namespace {

LayerDesc desc_of(const std::string& type) {
  LayerDesc d;
  d.type = type;
  return d;
}

// Two equal values for a square 2-D window ("kernel_shape", "strides", "dilations").
int64_t square(const NodeAttrs& a, const std::string& attr, const std::vector<int64_t>& v, int64_t lo, int64_t hi) {
  if (v.size() != 2) a.reject(attr, "expected 2 values (a 2-D operation on N x C x H x W)");
  if (v[0] != v[1]) a.reject(attr, "trim needs the same value for height and width");
  if (v[0] < lo || v[0] > hi) a.reject(attr, "out of the range " + std::to_string(lo) + ".." + std::to_string(hi));
  return v[0];
}

// ONNX pads are [top, left, bottom, right]; trim pads every side alike.
int64_t symmetric_pad(const NodeAttrs& a, int64_t kernel) {
  const std::string auto_pad = a.s("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID")
    a.reject("auto_pad", "only NOTSET (explicit pads) and VALID are supported; export with explicit pads");
  const std::vector<int64_t> pads = a.ints("pads", {0, 0, 0, 0});
  if (auto_pad == "VALID" && a.has("pads")) a.reject("pads", "given together with auto_pad VALID");
  if (pads.size() != 4) a.reject("pads", "expected 4 values [top, left, bottom, right]");
  if (pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3])
    a.reject("pads", "trim pads all four sides alike (asymmetric padding is not supported)");
  if (pads[0] < 0 || pads[0] >= kernel) a.reject("pads", "must be in 0.." + std::to_string(kernel - 1) + " for this kernel");
  return pads[0];
}

void reject_dilation(const NodeAttrs& a) {
  const std::vector<int64_t> d = a.ints("dilations", {1, 1});
  if (d.size() != 2 || d[0] != 1 || d[1] != 1) a.reject("dilations", "trim supports dilation 1 only");
}

// ceil_mode = 1 is accepted where it changes nothing (floor and ceil give the same size).
void check_ceil_mode(const NodeAttrs& a, const Shape& in, int64_t k, int64_t s, int64_t p) {
  if (a.i("ceil_mode", 0) == 0) return;
  for (int d = 1; d <= 2; ++d) {
    const int64_t span = in[d] + 2 * p - k;
    if (span >= 0 && span % s != 0)
      a.reject("ceil_mode", "rounds the output size up here (input " + in.str() + "), trim's pooling rounds down");
  }
}

std::string int_text(int64_t v) { return std::to_string(v); }

void conv(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  a.only({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  b.expect_chain_input(n);
  if (b.rank != 4) throw Error(b.where(n) + ": input must be N x C x H x W");
  FloatTensor w = b.float_input(n, 1, "weight W");
  if (w.dims.size() != 4) throw Error(b.where(n) + ": weight W has dims " + ints_text(w.dims) + ", expected 4 (2-D convolution)");
  if (w.dims[2] != w.dims[3]) throw Error(b.where(n) + ": weight W has dims " + ints_text(w.dims) + ": trim needs a square kernel");
  const int64_t k = w.dims[2];
  if (a.has("kernel_shape") && square(a, "kernel_shape", a.ints("kernel_shape", {}), 1, 64) != k)
    a.reject("kernel_shape", "does not match the weight's dims " + ints_text(w.dims));
  if (k < 1 || k > 64) throw Error(b.where(n) + ": kernel size " + int_text(k) + " is out of range");
  const int64_t stride = square(a, "strides", a.ints("strides", {1, 1}), 1, 64);
  reject_dilation(a);
  const int64_t pad = symmetric_pad(a, k);
  const int64_t group = a.i("group", 1);
  if (group < 1 || group > b.shape[0]) a.reject("group", "must be in 1.." + std::to_string(b.shape[0]));
  if (w.dims[1] * group != b.shape[0])
    throw Error(b.where(n) + ": weight W has dims " + ints_text(w.dims) + " with group=" + int_text(group) +
                ", the input has " + std::to_string(b.shape[0]) + " channels");
  const int64_t filters = w.dims[0];
  std::vector<std::pair<std::string, FloatTensor>> params = {{"weight", std::move(w)}};
  const bool bias = b.has_input(n, 2);
  if (bias) {
    FloatTensor bt = b.float_input(n, 2, "bias B");
    if (bt.dims.size() != 1 || bt.dims[0] != filters)
      throw Error(b.where(n) + ": bias B has dims " + ints_text(bt.dims) + ", expected [" + int_text(filters) + "]");
    params.emplace_back("bias", std::move(bt));
  }
  b.expect_only_first_output(n);
  LayerDesc d = desc_of("conv");
  d.set("filters", int_text(filters));
  d.set("size", int_text(k));
  d.set("stride", int_text(stride));
  d.set("pad", int_text(pad));
  d.set("groups", int_text(group));
  d.set("bias", bias ? "1" : "0");
  b.add_layer(n, d, std::move(params), n.output(0), 4);
}

// ONNX's momentum weighs the old running value (PyTorch's and trim's weigh the new batch):
// trim = 1 - onnx. A float next to 1 is only good to ~6e-8, so the result is rounded to 6
// decimals: trim's 0.1 or 0.03 -> 0.9f / 0.97f -> 0.1 / 0.03 exactly (momentum only steers
// fine-tuning; 1e-6 is far below what matters).
float trim_momentum(float onnx_momentum) {
  const double m = 1.0 - static_cast<double>(onnx_momentum);
  return static_cast<float>(std::round(m * 1e6) / 1e6);
}

std::string float_text(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

void batchnorm(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  a.only({"epsilon", "momentum", "training_mode", "spatial"});
  if (a.i("training_mode", 0) != 0) a.reject("training_mode", "a training-mode BatchNormalization cannot be imported; export in eval mode");
  if (a.i("spatial", 1) != 1) a.reject("spatial", "only per-channel (spatial=1) statistics are supported");
  b.expect_chain_input(n);
  if (b.rank != 4) throw Error(b.where(n) + ": input must be N x C x H x W (trim's batchnorm is 2-D)");
  b.expect_only_first_output(n);
  const float eps = a.f("epsilon", 1e-5f);
  if (!(eps > 0.f)) a.reject("epsilon", "must be positive");
  const float momentum = a.f("momentum", 0.9f);
  if (momentum < 0.f || momentum > 1.f) a.reject("momentum", "must be in 0..1");
  const char* roles[4] = {"scale", "bias B", "input_mean", "input_var"};
  const char* names[4] = {"gamma", "beta", "running_mean", "running_var"};
  std::vector<std::pair<std::string, FloatTensor>> params;
  for (int i = 0; i < 4; ++i) {
    FloatTensor t = b.float_input(n, i + 1, roles[i]);
    if (t.dims.size() != 1 || t.dims[0] != b.shape[0])
      throw Error(b.where(n) + ": " + roles[i] + " has dims " + ints_text(t.dims) + ", expected [" +
                  std::to_string(b.shape[0]) + "] (one per channel)");
    if (i == 3)
      for (float v : t.values)
        if (v < 0.f) throw Error(b.where(n) + ": input_var holds a negative variance");
    params.emplace_back(names[i], std::move(t));
  }
  LayerDesc d = desc_of("batchnorm");
  d.set("eps", float_text(eps));
  d.set("momentum", float_text(trim_momentum(momentum)));
  b.add_layer(n, d, std::move(params), n.output(0), 4);
}

void relu(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs(n, b.where(n)).only({});
  b.expect_chain_input(n);
  b.expect_only_first_output(n);
  b.add_layer(n, desc_of("relu"), {}, n.output(0), b.rank);
}

// Clip(0, 6) is ReLU6 and Clip(0, +inf) is ReLU; other bounds have no trim layer. The bounds
// are attributes before opset 11 and optional constant inputs from opset 11 on.
void clip(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  const float inf = std::numeric_limits<float>::infinity();
  float lo = -inf, hi = inf;
  if (b.opset < 11) {
    a.only({"min", "max"});
    lo = a.f("min", -std::numeric_limits<float>::max());
    hi = a.f("max", std::numeric_limits<float>::max());
  } else {
    a.only({});
    for (int i = 1; i <= 2; ++i) {
      if (!b.has_input(n, i)) continue;
      FloatTensor t = b.float_input(n, i, i == 1 ? "min" : "max");
      if (t.numel() != 1) throw Error(b.where(n) + ": input " + std::to_string(i) + " must be a scalar");
      (i == 1 ? lo : hi) = t.values[0];
    }
  }
  b.expect_chain_input(n);
  b.expect_only_first_output(n);
  const bool no_max = hi >= std::numeric_limits<float>::max();
  if (lo != 0.f || !(hi == 6.f || no_max))
    throw Error(b.where(n) + ": Clip(" + float_text(lo) + ", " + float_text(hi) +
                ") is not supported: trim has Clip(0, 6) (relu6) and Clip(0, inf) (relu)" +
                (b.opset < 11 ? " (attributes 'min', 'max')" : " (inputs 'min', 'max')"));
  b.add_layer(n, desc_of(no_max ? "relu" : "relu6"), {}, n.output(0), b.rank);
}

void pool(ChainBuilder& b, const onnx::NodeProto& n, bool max) {
  NodeAttrs a(n, b.where(n));
  if (max)
    a.only({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
  else
    a.only({"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
  b.expect_chain_input(n);
  if (b.rank != 4) throw Error(b.where(n) + ": input must be N x C x H x W");
  b.expect_only_first_output(n);  // MaxPool's Indices output
  if (!a.has("kernel_shape")) a.reject("kernel_shape", "required");
  const int64_t k = square(a, "kernel_shape", a.ints("kernel_shape", {}), 1, 64);
  const int64_t s = square(a, "strides", a.ints("strides", {1, 1}), 1, 64);
  if (max) reject_dilation(a);
  const int64_t p = symmetric_pad(a, k);
  // trim's average pooling divides by the cells inside the image (count_include_pad = 0);
  // with padding, count_include_pad = 1 divides by the whole window and gives other values.
  if (!max && a.i("count_include_pad", 0) != 0 && p > 0)
    a.reject("count_include_pad", "with padding, trim averages over the cells inside the image only (count_include_pad=0)");
  check_ceil_mode(a, b.shape, k, s, p);
  LayerDesc d = desc_of(max ? "maxpool" : "avgpool");
  d.set("size", int_text(k));
  d.set("stride", int_text(s));
  d.set("pad", int_text(p));
  b.add_layer(n, d, {}, n.output(0), 4);
}

void maxpool(ChainBuilder& b, const onnx::NodeProto& n) { pool(b, n, true); }
void avgpool(ChainBuilder& b, const onnx::NodeProto& n) { pool(b, n, false); }

void global_avgpool(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs(n, b.where(n)).only({});
  b.expect_chain_input(n);
  if (b.rank != 4) throw Error(b.where(n) + ": input must be N x C x H x W");
  b.expect_only_first_output(n);
  b.add_layer(n, desc_of("globalavgpool"), {}, n.output(0), 4);
}

void flatten(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  a.only({"axis"});
  if (a.i("axis", 1) != 1) a.reject("axis", "trim flattens everything but the batch (axis=1)");
  b.expect_chain_input(n);
  b.expect_only_first_output(n);
  b.add_layer(n, desc_of("flatten"), {}, n.output(0), 2);
}

// Reshape to [N, -1] (or [N, C*H*W]) with the batch as 0 or -1 (or a literal 1): a flatten.
void reshape(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  a.only({"allowzero"});
  if (b.has_input(n, 1) && !b.constants.count(n.input(1)))
    throw Error(b.where(n) + ": the target shape '" + n.input(1).substr(0, 200) +
                "' is computed in the graph, not a constant; export the flatten as Flatten (torch.flatten, nn.Flatten)");
  const std::vector<int64_t> to = read_int_tensor(b.constant_input(n, 1, "shape"), b.where(n) + ": input 1 (shape)");
  b.expect_chain_input(n);
  b.expect_only_first_output(n);
  const int64_t features = static_cast<int64_t>(b.shape.numel());
  const bool zero_is_copy = a.i("allowzero", 0) == 0;
  const bool batch_ok = to.size() == 2 && ((to[0] == 0 && zero_is_copy) || to[0] == 1 || (to[0] == -1 && to[1] != -1));
  if (!batch_ok || (to[1] != -1 && to[1] != features))
    throw Error(b.where(n) + ": reshape to " + ints_text(to) + " is not supported: trim reshapes only to [N, -1] (N as 0 or -1), i.e. a flatten of " +
                b.shape.str());
  b.add_layer(n, desc_of("flatten"), {}, n.output(0), 2);
}

FloatTensor transposed(const FloatTensor& t) {
  FloatTensor out;
  out.dims = {t.dims[1], t.dims[0]};
  out.values.resize(t.values.size());
  const int64_t r = t.dims[0], c = t.dims[1];
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) out.values[static_cast<size_t>(j * r + i)] = t.values[static_cast<size_t>(i * c + j)];
  return out;
}

// A bias for `out` features: [out], [1, out] or a broadcast scalar.
FloatTensor bias_of(const ChainBuilder& b, const onnx::NodeProto& n, const FloatTensor& t, int64_t out, const std::string& role) {
  const bool vec = (t.dims.size() == 1 && t.dims[0] == out) || (t.dims.size() == 2 && t.dims[0] == 1 && t.dims[1] == out);
  if (!vec && t.numel() != 1)
    throw Error(b.where(n) + ": " + role + " has dims " + ints_text(t.dims) + ", expected [" + int_text(out) + "]");
  FloatTensor r;
  r.dims = {out};
  r.values = vec ? t.values : std::vector<float>(static_cast<size_t>(out), t.values[0]);
  return r;
}

void add_linear(ChainBuilder& b, const onnx::NodeProto& n, FloatTensor w, const FloatTensor* bias, const std::string& output) {
  if (b.rank != 2) throw Error(b.where(n) + ": input must be N x features (put a Flatten before it)");
  if (w.dims[1] != static_cast<int64_t>(b.shape.numel()))
    throw Error(b.where(n) + ": weight has dims " + ints_text(w.dims) + " (as [out, in]) but the input has " +
                std::to_string(b.shape.numel()) + " features");
  const int64_t out = w.dims[0];
  LayerDesc d = desc_of("linear");
  d.set("out", int_text(out));
  d.set("bias", bias ? "1" : "0");
  std::vector<std::pair<std::string, FloatTensor>> params = {{"weight", std::move(w)}};
  if (bias) params.emplace_back("bias", *bias);
  b.add_layer(n, d, std::move(params), output, 2);
}

void gemm(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  a.only({"alpha", "beta", "transA", "transB"});
  if (a.i("transA", 0) != 0) a.reject("transA", "the input must not be transposed");
  b.expect_chain_input(n);
  b.expect_only_first_output(n);
  FloatTensor w = b.float_input(n, 1, "B");
  if (w.dims.size() != 2) throw Error(b.where(n) + ": B has dims " + ints_text(w.dims) + ", expected 2");
  if (a.i("transB", 0) == 0) w = transposed(w);  // trim keeps [out, in]
  const float alpha = a.f("alpha", 1.f), beta = a.f("beta", 1.f);
  if (alpha != 1.f)
    for (float& v : w.values) v *= alpha;
  if (b.has_input(n, 2)) {
    FloatTensor c = bias_of(b, n, b.float_input(n, 2, "C"), w.dims[0], "C");
    if (beta != 1.f)
      for (float& v : c.values) v *= beta;
    add_linear(b, n, std::move(w), &c, n.output(0));
  } else {
    add_linear(b, n, std::move(w), nullptr, n.output(0));
  }
}

// MatMul by a constant [in, out], with an Add of a constant [out] right after it folded in as
// the bias (what exporters write for a Linear when they do not use Gemm).
void matmul(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs(n, b.where(n)).only({});
  b.expect_chain_input(n);
  b.expect_only_first_output(n);
  FloatTensor w = b.float_input(n, 1, "B");
  if (w.dims.size() != 2) throw Error(b.where(n) + ": B has dims " + ints_text(w.dims) + ", expected 2 ([in, out])");
  w = transposed(w);
  const std::string out = n.output(0);
  if (b.next < static_cast<size_t>(b.graph.node_size())) {
    const onnx::NodeProto& add = b.graph.node(static_cast<int>(b.next));
    if (add.op_type() == "Add" && add.domain().empty() && add.input_size() == 2 && add.output_size() == 1 &&
        b.uses.count(out) && b.uses.at(out) == 1) {
      const int other = add.input(0) == out ? 1 : add.input(1) == out ? 0 : -1;
      if (other >= 0 && b.constants.count(add.input(other))) {
        NodeAttrs(add, b.where(add)).only({});
        FloatTensor c = bias_of(b, add, b.float_input(add, other, "bias"), w.dims[0], "bias");
        ++b.next;
        add_linear(b, n, std::move(w), &c, add.output(0));
        return;
      }
    }
  }
  add_linear(b, n, std::move(w), nullptr, out);
}

void dropout(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  float ratio = 0.5f;
  if (b.opset < 12) {
    a.only({"ratio"});
    ratio = a.f("ratio", 0.5f);
  } else {
    a.only({"seed"});
    if (b.has_input(n, 1)) {
      FloatTensor r = b.float_input(n, 1, "ratio");
      if (r.numel() != 1) throw Error(b.where(n) + ": ratio must be a scalar");
      ratio = r.values[0];
    }
    if (b.has_input(n, 2)) {
      const onnx::TensorProto& t = b.constant_input(n, 2, "training_mode");
      if (t.data_type() != onnx::TensorProto::BOOL)
        throw Error(b.where(n) + ": training_mode must be a BOOL, got " + data_type_name(t.data_type()));
      const bool on = t.has_raw_data() ? (!t.raw_data().empty() && t.raw_data()[0] != 0) : (t.int32_data_size() > 0 && t.int32_data(0) != 0);
      if (on) throw Error(b.where(n) + ": training_mode is true; export the model in eval mode");
    }
  }
  if (!(ratio >= 0.f && ratio < 1.f)) throw Error(b.where(n) + ": ratio " + float_text(ratio) + " must be in [0, 1)");
  b.expect_chain_input(n);
  b.expect_only_first_output(n);  // the mask
  LayerDesc d = desc_of("dropout");
  d.set("p", float_text(ratio));
  b.add_layer(n, d, {}, n.output(0), b.rank);
}

// Identity of a constant (PyTorch writes these for shared initializers) is a constant; on the
// chain it is nothing.
void identity(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs(n, b.where(n)).only({});
  if (n.input_size() == 1 && n.output_size() == 1 && b.constants.count(n.input(0))) {
    b.constants[n.output(0)] = b.constants[n.input(0)];
    return;
  }
  b.pass_through(n);
}

void constant(ChainBuilder& b, const onnx::NodeProto& n) {
  NodeAttrs a(n, b.where(n));
  a.only({"value"});
  const onnx::TensorProto* t = a.tensor("value");
  if (!t) throw Error(b.where(n) + ": only the 'value' (tensor) form of Constant is supported");
  if (n.output_size() != 1 || n.output(0).empty()) throw Error(b.where(n) + ": expected one output");
  b.constants[n.output(0)] = t;
}

void graph_op(ChainBuilder& b, const onnx::NodeProto& n) {
  throw Error(b.where(n) + ": " + n.op_type() +
              " is not supported yet: trim imports chains of layers only; graph models (Add, Concat) are future work (docs/onnx.md)");
}

}  // namespace

const std::map<std::string, Converter>& converters() {
  static const std::map<std::string, Converter> table = {
      {"Conv", conv},
      {"BatchNormalization", batchnorm},
      {"Relu", relu},
      {"Clip", clip},
      {"MaxPool", maxpool},
      {"AveragePool", avgpool},
      {"GlobalAveragePool", global_avgpool},
      {"Flatten", flatten},
      {"Reshape", reshape},
      {"Gemm", gemm},
      {"MatMul", matmul},
      {"Dropout", dropout},
      {"Identity", identity},
      {"Constant", constant},
      {"Add", graph_op},
      {"Concat", graph_op},
  };
  return table;
}

}  // namespace onnx_io
}  // namespace trim
