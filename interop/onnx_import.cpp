#include "interop/onnx_import.h"

#include <limits>
#include <set>
#include <sstream>

#include "framework/model_file.h"
#include "interop/onnx_chain.h"
#include "interop/onnx_checks.h"

namespace trim {

namespace {

using onnx_io::ChainBuilder;

int default_opset(const onnx::ModelProto& m, const std::string& what) {
  int opset = -1;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      if (o.version() < 0 || o.version() > 1000) throw Error(what + ": opset version " + std::to_string(o.version()) + " is out of range");
      opset = static_cast<int>(o.version());
    }
  if (opset < 0) throw Error(what + ": no opset of the default ONNX domain (opset_import)");
  if (opset < kOnnxImportMinOpset || opset > kOnnxImportMaxOpset)
    throw Error(what + ": opset " + std::to_string(opset) + " is not supported (trim imports opsets " +
                std::to_string(kOnnxImportMinOpset) + " to " + std::to_string(kOnnxImportMaxOpset) + ")");
  return opset;
}

// The one graph input that is not an initializer: float, N x C x H x W with fixed C, H, W.
const onnx::ValueInfoProto& data_input(const ChainBuilder& b, const std::string& what, Shape& shape) {
  const onnx::ValueInfoProto* found = nullptr;
  for (const auto& in : b.graph.input()) {
    if (b.constants.count(in.name())) continue;  // IR < 4 lists initializers as inputs too
    if (found) throw Error(what + ": the graph has several data inputs ('" + found->name().substr(0, 100) + "', '" +
                           in.name().substr(0, 100) + "'); trim models take one image tensor");
    found = &in;
  }
  if (!found) throw Error(what + ": the graph has no data input");
  const std::string who = what + ": graph input '" + found->name().substr(0, 200) + "'";
  if (!found->type().has_tensor_type()) throw Error(who + " is not a tensor");
  const auto& tt = found->type().tensor_type();
  if (tt.elem_type() != onnx::TensorProto::FLOAT)
    throw Error(who + " is a " + onnx_io::data_type_name(tt.elem_type()) + " tensor; trim needs FLOAT input");
  if (!tt.has_shape() || tt.shape().dim_size() != 4)
    throw Error(who + ": needs a shape N x C x H x W (4 dimensions)");
  int dims[3];
  for (int k = 1; k < 4; ++k) {
    const auto& d = tt.shape().dim(k);
    if (!d.has_dim_value() || d.dim_value() <= 0 || d.dim_value() > 16384)
      throw Error(who + ": dimension " + std::to_string(k) + " must be a fixed size in 1..16384 (only the batch may vary)");
    dims[k - 1] = static_cast<int>(d.dim_value());
  }
  if (dims[0] > 4096) throw Error(who + ": " + std::to_string(dims[0]) + " channels is out of range");
  shape = Shape{dims[0], dims[1], dims[2]};
  return *found;
}

// Before onnx's checker, so these common faults get messages naming the node and its input:
// every input is defined by then (graph input, initializer, earlier node), and an initializer
// a node reads holds FLOAT data (INT64/INT32 for shapes, BOOL for Dropout's training_mode).
void defined_inputs_and_types(const ChainBuilder& b) {
  std::set<std::string> defined;
  for (const auto& in : b.graph.input()) defined.insert(in.name());
  for (const auto& c : b.constants) defined.insert(c.first);
  for (const auto& n : b.graph.node()) {
    for (int i = 0; i < n.input_size(); ++i) {
      const std::string& in = n.input(i);
      if (in.empty()) continue;
      if (!defined.count(in))
        throw Error(b.where(n) + ": input " + std::to_string(i) + " '" + in.substr(0, 200) +
                    "' is not defined (missing initializer, or not the output of an earlier node)");
      auto c = b.constants.find(in);
      if (c == b.constants.end()) continue;
      const int32_t t = c->second->data_type();
      if (t != onnx::TensorProto::FLOAT && t != onnx::TensorProto::INT64 && t != onnx::TensorProto::INT32 &&
          t != onnx::TensorProto::BOOL)
        throw Error(b.where(n) + ": input " + std::to_string(i) + " '" + in.substr(0, 200) + "' is a " +
                    onnx_io::data_type_name(t) + " tensor; trim needs FLOAT (32-bit) weights");
    }
    for (const auto& out : n.output()) defined.insert(out);
  }
}

std::vector<std::string> metadata_classes(const onnx::ModelProto& m) {
  std::vector<std::string> names;
  for (const auto& p : m.metadata_props())
    if (p.key() == "classes") {
      std::istringstream in(p.value());
      std::string line;
      while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) names.push_back(line);
      }
    }
  return names;
}

Model build_model(const ChainBuilder& b, const Shape& input, const std::string& what) {
  std::ostringstream s;
  s << "[input]\nchannels=" << input[0] << "\nheight=" << input[1] << "\nwidth=" << input[2] << "\n";
  for (const auto& l : b.layers) {
    s << "\n[" << l.desc.type << "]\n";
    for (const auto& kv : l.desc.kv) s << kv.first << "=" << kv.second << "\n";
  }
  Model m = model_from_desc(s.str(), what);
  for (size_t i = 0; i < b.layers.size(); ++i) {
    Layer& layer = *m.layers[i];
    for (auto& p : layer.params())
      for (const auto& q : b.layers[i].params)
        if (q.first == p.name) {
          // Same count checked by add_layer; trim's shape is the one to keep ([C] for a bias
          // given as [1, C], [out, in] for a transposed Gemm weight).
          std::copy(q.second.values.begin(), q.second.values.end(), p.value->data());
        }
  }
  return m;
}

}  // namespace

Model import_onnx_bytes(const std::string& bytes, const std::string& what, const OnnxImportOptions& opt) {
  onnx::ModelProto model;
  if (bytes.size() > size_t(INT32_MAX)) throw Error(what + ": larger than 2 GiB, the most a protobuf message may hold");
  if (!model.ParseFromString(bytes))
    throw Error(what + ": not an ONNX model (the protobuf does not parse: truncated or another kind of file)");
  if (!model.has_graph()) throw Error(what + ": not an ONNX model (no graph)");
  const int opset = default_opset(model, what);
  const onnx::GraphProto& g = model.graph();
  ChainBuilder b(g, what, opset);
  for (const auto& t : g.initializer()) {
    if (t.name().empty()) throw Error(what + ": an initializer without a name");
    b.constants[t.name()] = &t;
  }
  if (g.sparse_initializer_size() > 0) throw Error(what + ": sparse initializers are not supported");
  for (const auto& n : g.node())
    for (const auto& in : n.input())
      if (!in.empty()) ++b.uses[in];
  for (const auto& o : g.output()) ++b.uses[o.name()];

  Shape input;
  b.current = data_input(b, what, input).name();
  defined_inputs_and_types(b);
  b.shape = input;
  b.rank = 4;
  // onnx's own checks come before the conversion walks the graph: the converters may then rely
  // on a well-formed graph (inputs defined before use, attributes of the schema's types).
  onnx_io::run_checker(model, what);
  b.inferred = onnx_io::infer_shapes(model, what);

  const auto& table = onnx_io::converters();
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    b.next = static_cast<size_t>(i) + 1;
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      throw Error(b.where(n) + ": op of domain '" + n.domain().substr(0, 100) + "' is not supported (default ONNX domain only)");
    auto it = table.find(n.op_type());
    if (it == table.end()) {
      std::string known;
      for (const auto& k : table) known += (known.empty() ? "" : ", ") + k.first;
      throw Error(b.where(n) + ": op type '" + n.op_type().substr(0, 64) + "' is not supported (trim imports: " + known + ")");
    }
    const std::string before = b.current;
    it->second(b, n);
    if (b.current != before && b.uses[before] > 1)
      throw Error(b.where(n) + ": tensor '" + before.substr(0, 200) + "' feeds " + std::to_string(b.uses[before]) +
                  " consumers (a branch): only chains of layers are supported, not graphs");
    i = static_cast<int>(b.next) - 1;  // a converter may have consumed the nodes after it
  }
  if (g.output_size() != 1) throw Error(what + ": the graph has " + std::to_string(g.output_size()) + " outputs, trim models have one");
  if (g.output(0).name() != b.current)
    throw Error(what + ": the graph output '" + g.output(0).name().substr(0, 200) + "' is not the last layer's output '" +
                b.current.substr(0, 200) + "'");
  if (b.layers.empty()) throw Error(what + ": the graph has no layers");
  Model m = build_model(b, input, what);
  m.class_names = opt.class_names.empty() ? metadata_classes(model) : opt.class_names;
  if (!m.class_names.empty() && static_cast<int>(m.class_names.size()) != m.classes())
    throw Error(what + ": " + std::to_string(m.class_names.size()) + " class names " +
                (opt.class_names.empty() ? "in metadata_props 'classes'" : "given") + " but the model has " +
                std::to_string(m.classes()) + " outputs");
  return m;
}

Model import_onnx(const std::string& path, const OnnxImportOptions& opt) {
  return import_onnx_bytes(read_file(path), path, opt);
}

}  // namespace trim
