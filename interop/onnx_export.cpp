#include "interop/onnx_export.h"

#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/dropout.h"
#include "framework/layers/linear.h"
#include "framework/layers/pool2d.h"
#include "framework/model_file.h"
#include "interop/onnx_checks.h"
#include "interop/onnx_proto.h"
#include "interop/onnx_tensor.h"

namespace trim {

namespace {

using onnx_io::write_float_tensor;

class GraphWriter {
 public:
  GraphWriter(onnx::GraphProto* g) : g_(g) {}

  onnx::NodeProto* node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                        const std::string& output) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(output);
    return n;
  }
  void param(const std::string& name, const Tensor& t) {
    std::vector<int64_t> dims;
    for (int d = 0; d < t.rank(); ++d) dims.push_back(t.dim(d));
    write_float_tensor(g_->add_initializer(), name, dims, t.data());
  }
  void scalar(const std::string& name, float v) { write_float_tensor(g_->add_initializer(), name, {}, &v); }

 private:
  onnx::GraphProto* g_;
};

void attr_ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void window(onnx::NodeProto* n, int k, int s, int p) {
  attr_ints(n, "kernel_shape", {k, k});
  attr_ints(n, "strides", {s, s});
  attr_ints(n, "pads", {p, p, p, p});
}

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

onnx::ModelProto to_proto(const Model& cm, int opset) {
  if (!cm.built()) throw Error("export: the model is not built");
  if (opset < 13 || opset > 17) throw Error("export: opset " + std::to_string(opset) + " is not supported (13 to 17)");
  Model& m = const_cast<Model&>(cm);  // params() is not const; nothing is modified
  onnx::ModelProto p;
  p.set_ir_version(opset <= 13 ? 7 : 8);  // the IR versions that introduced these opsets' features
  p.set_producer_name("trim");
  p.set_producer_version("1");
  auto* os = p.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  if (!m.class_names.empty()) {
    std::string names;
    for (const auto& c : m.class_names) names += c + "\n";
    auto* kv = p.add_metadata_props();
    kv->set_key("classes");
    kv->set_value(names);
  }
  onnx::GraphProto* g = p.mutable_graph();
  g->set_name("trim");
  GraphWriter w(g);
  set_tensor_type(g->add_input(), "input", {m.input[0], m.input[1], m.input[2]});
  std::string cur = "input";
  int rank = 4;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    Layer& l = *m.layers[i];
    const std::string& name = l.name();
    const std::string out = i + 1 == m.layers.size() ? "logits" : name;
    const std::string t = l.type();
    if (auto* c = dynamic_cast<Conv2d*>(&l)) {
      std::vector<std::string> in = {cur, name + ".weight"};
      w.param(name + ".weight", c->weight);
      if (c->has_bias) {
        in.push_back(name + ".bias");
        w.param(name + ".bias", c->bias);
      }
      auto* n = w.node("Conv", name, in, out);
      window(n, c->kernel, c->stride, c->pad);
      attr_ints(n, "dilations", {1, 1});
      attr_int(n, "group", c->groups);
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(&l)) {
      w.param(name + ".gamma", bn->gamma);
      w.param(name + ".beta", bn->beta);
      w.param(name + ".running_mean", bn->running_mean);
      w.param(name + ".running_var", bn->running_var);
      auto* n = w.node("BatchNormalization", name,
                       {cur, name + ".gamma", name + ".beta", name + ".running_mean", name + ".running_var"}, out);
      attr_float(n, "epsilon", bn->eps);
      attr_float(n, "momentum", 1.f - bn->momentum);  // ONNX weighs the running value
    } else if (t == "relu") {
      w.node("Relu", name, {cur}, out);
    } else if (t == "relu6") {
      w.scalar(name + ".min", 0.f);
      w.scalar(name + ".max", 6.f);
      w.node("Clip", name, {cur, name + ".min", name + ".max"}, out);
    } else if (auto* mp = dynamic_cast<MaxPool2d*>(&l)) {
      window(w.node("MaxPool", name, {cur}, out), mp->kernel, mp->stride, mp->pad);
    } else if (auto* ap = dynamic_cast<AvgPool2d*>(&l)) {
      auto* n = w.node("AveragePool", name, {cur}, out);
      window(n, ap->kernel, ap->stride, ap->pad);
      attr_int(n, "count_include_pad", 0);  // trim averages over the cells inside the image
    } else if (t == "globalavgpool") {
      w.node("GlobalAveragePool", name, {cur}, out);
    } else if (t == "flatten") {
      attr_int(w.node("Flatten", name, {cur}, out), "axis", 1);
      rank = 2;
    } else if (auto* fc = dynamic_cast<Linear*>(&l)) {
      if (rank != 2) {  // trim's linear also takes N x C x 1 x 1 directly; ONNX's Gemm needs rank 2
        attr_int(w.node("Flatten", name + ".flatten", {cur}, name + ".flatten"), "axis", 1);
        cur = name + ".flatten";
        rank = 2;
      }
      std::vector<std::string> in = {cur, name + ".weight"};
      w.param(name + ".weight", fc->weight);
      if (fc->has_bias) {
        in.push_back(name + ".bias");
        w.param(name + ".bias", fc->bias);
      }
      attr_int(w.node("Gemm", name, in, out), "transB", 1);
    } else if (auto* d = dynamic_cast<Dropout*>(&l)) {
      w.scalar(name + ".ratio", d->p);
      w.node("Dropout", name, {cur, name + ".ratio"}, out);
    } else {
      throw Error("export: layer '" + name + "' of type '" + t + "' has no ONNX mapping");
    }
    cur = out;
  }
  const Shape os_ = m.output_shape();
  if (rank == 2)
    set_tensor_type(g->add_output(), cur, {os_[0]});
  else
    set_tensor_type(g->add_output(), cur, {os_[0], os_[1], os_[2]});
  return p;
}

}  // namespace

std::string export_onnx_bytes(const Model& m, int opset) {
  onnx::ModelProto p = to_proto(m, opset);
  onnx_io::run_checker(p, "export");
  // onnx's shape inference must arrive at trim's output shape (it merges with the declared one
  // and throws on a conflict in strict mode).
  auto shapes = onnx_io::infer_shapes(p, "export");
  auto it = shapes.find("logits");
  if (it == shapes.end()) throw Error("export: onnx's shape inference gives no shape for the output");
  std::string bytes;
  if (!p.SerializeToString(&bytes)) throw Error("export: protobuf serialisation failed (model larger than 2 GiB?)");
  return bytes;
}

void export_onnx(const Model& m, const std::string& path, int opset) {
  std::string bytes;
  try {
    bytes = export_onnx_bytes(m, opset);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  write_file_atomic(path, bytes);
}

}  // namespace trim
