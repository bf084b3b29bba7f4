#include "interop/onnx_chain.h"

#include <memory>

namespace trim {
namespace onnx_io {

ChainBuilder::ChainBuilder(const onnx::GraphProto& g, std::string f, int op) : graph(g), file(std::move(f)), opset(op) {}

std::string ChainBuilder::where(const onnx::NodeProto& n) const {
  return file + ": node '" + (n.name().empty() ? std::string("(unnamed)") : n.name().substr(0, 200)) + "' (" +
         n.op_type().substr(0, 64) + ")";
}

bool ChainBuilder::has_input(const onnx::NodeProto& n, int i) const { return i < n.input_size() && !n.input(i).empty(); }

const onnx::TensorProto& ChainBuilder::constant_input(const onnx::NodeProto& n, int i, const std::string& role) const {
  if (!has_input(n, i)) throw Error(where(n) + ": input " + std::to_string(i) + " (" + role + ") is missing");
  auto it = constants.find(n.input(i));
  if (it == constants.end())
    throw Error(where(n) + ": input " + std::to_string(i) + " (" + role + ") '" + n.input(i).substr(0, 200) +
                "' is not an initializer or a constant (missing initializer, or a computed tensor trim cannot take here)");
  return *it->second;
}

FloatTensor ChainBuilder::float_input(const onnx::NodeProto& n, int i, const std::string& role) const {
  const onnx::TensorProto& t = constant_input(n, i, role);
  return read_float_tensor(t, where(n) + ": input " + std::to_string(i) + " (" + role + ") '" + n.input(i).substr(0, 200) + "'");
}

void ChainBuilder::expect_chain_input(const onnx::NodeProto& n) const {
  if (n.input_size() < 1 || n.input(0).empty()) throw Error(where(n) + ": has no data input");
  if (n.input(0) != current) {
    if (constants.count(n.input(0)))
      throw Error(where(n) + ": its data input '" + n.input(0).substr(0, 200) +
                  "' is a constant; trim needs it to be the output of the previous layer");
    throw Error(where(n) + ": reads '" + n.input(0).substr(0, 200) + "', not '" + current.substr(0, 200) +
                "' (the output of the previous layer): only chains of layers are supported, not graphs");
  }
  for (int i = 1; i < n.input_size(); ++i)
    if (!n.input(i).empty() && !constants.count(n.input(i)))
      throw Error(where(n) + ": input " + std::to_string(i) + " '" + n.input(i).substr(0, 200) +
                  "' is not an initializer or a constant (missing initializer?)");
}

void ChainBuilder::expect_only_first_output(const onnx::NodeProto& n) const {
  if (n.output_size() < 1 || n.output(0).empty()) throw Error(where(n) + ": has no output");
  for (int i = 1; i < n.output_size(); ++i) {
    auto it = uses.find(n.output(i));
    if (!n.output(i).empty() && it != uses.end() && it->second > 0)
      throw Error(where(n) + ": output " + std::to_string(i) + " '" + n.output(i).substr(0, 200) +
                  "' is used; trim supports only the first output of " + n.op_type());
  }
}

namespace {

// trim layer names are written as `name=` lines: keep letters, digits, '_', '.', '-'.
std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 100)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

// PyTorch names nodes "/module/path/OpType" or "/module/path/OpType_3": the module's own name
// (the last path segment before the op) is the name its author gave the layer.
std::string module_name(const onnx::NodeProto& n) {
  const std::string& name = n.name();
  if (name.empty() || name[0] != '/') return name;
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    if (slash > start) parts.push_back(name.substr(start, slash - start));
    start = slash + 1;
  }
  if (!parts.empty() && parts.back().compare(0, n.op_type().size(), n.op_type()) == 0) parts.pop_back();
  return parts.empty() ? std::string() : parts.back();
}

}  // namespace

std::string ChainBuilder::layer_name(const onnx::NodeProto& n, const std::string& type) {
  std::string base = sanitize(module_name(n));
  if (base.empty()) base = type + std::to_string(layers.size() + 1);
  std::string name = base;
  for (int k = 2; names_.count(name); ++k) name = base + "_" + std::to_string(k);
  names_.insert(name);
  return name;
}

void ChainBuilder::check_inferred(const onnx::NodeProto& n, const std::string& tensor) const {
  auto it = inferred.find(tensor);
  if (it == inferred.end()) return;
  const std::vector<int64_t>& d = it->second;
  bool ok = true;
  if (static_cast<int>(d.size()) != rank) {
    ok = d.empty();  // rank unknown
  } else if (rank == 4) {
    for (int k = 1; k < 4; ++k) ok = ok && (d[k] < 0 || d[k] == shape[k - 1]);
  } else if (rank == 2) {
    ok = d[1] < 0 || d[1] == static_cast<int64_t>(shape.numel());
  }
  if (!ok)
    throw Error(where(n) + ": trim computes an output of N x " + shape.str() + " (rank " + std::to_string(rank) +
                "), onnx's shape inference " + ints_text(d));
}

void ChainBuilder::add_layer(const onnx::NodeProto& n, LayerDesc desc,
                             std::vector<std::pair<std::string, FloatTensor>> params, const std::string& output,
                             int out_rank) {
  const std::string name = layer_name(n, desc.type);
  desc.set("name", name);
  desc.file = file;
  try {
    std::unique_ptr<Layer> l = make_layer(desc);
    shape = l->setup(shape);
    // Every parameter the layer has must come from the file with exactly its shape.
    for (auto& p : l->params()) {
      const FloatTensor* src = nullptr;
      for (const auto& q : params)
        if (q.first == p.name) src = &q.second;
      if (!src) throw Error("no values for parameter '" + p.name + "'");
      if (static_cast<size_t>(src->numel()) != p.value->numel())
        throw Error("parameter '" + p.name + "' has " + std::to_string(src->numel()) + " values, the layer needs " +
                    p.value->shape().str());
    }
  } catch (const Error& e) {
    throw Error(where(n) + ": " + e.what());
  }
  rank = out_rank;
  current = output;
  layers.push_back(ImportedLayer{std::move(desc), std::move(params)});
  check_inferred(n, output);
}

void ChainBuilder::pass_through(const onnx::NodeProto& n) {
  expect_chain_input(n);
  expect_only_first_output(n);
  current = n.output(0);
}

}  // namespace onnx_io
}  // namespace trim
