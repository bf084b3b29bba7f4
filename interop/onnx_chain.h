// onnx_chain.h - the state of one import (onnx_import.cpp walks the graph, the converters in
// onnx_import_ops.cpp add trim layers to it). trim models are chains today: every converted node
// reads the tensor the previous layer produced (`current`) and constant inputs (initializers,
// Constant nodes). Graph models (Add/Concat) will need `current` to become a map from tensor
// names to trim layer outputs; the converters already name their inputs and outputs by tensor.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "framework/layer.h"
#include "framework/tensor.h"
#include "interop/onnx_proto.h"
#include "interop/onnx_tensor.h"

namespace trim {
namespace onnx_io {

struct ImportedLayer {
  LayerDesc desc;  // type and keys, with name=
  std::vector<std::pair<std::string, FloatTensor>> params;  // local name ("weight") -> values
};

class ChainBuilder {
 public:
  ChainBuilder(const onnx::GraphProto& graph, std::string file, int opset);

  const onnx::GraphProto& graph;
  const std::string file;
  const int opset;

  // Constant tensors by name: initializers, Constant nodes' outputs, Identity of a constant.
  std::map<std::string, const onnx::TensorProto*> constants;
  std::vector<onnx::TensorProto> owned;  // (reserved up front) tensors built from Constant attributes
  std::map<std::string, int> uses;       // consumers of each tensor (nodes and graph outputs)
  std::map<std::string, std::vector<int64_t>> inferred;  // onnx shape inference, -1 = unknown

  std::string current;  // the tensor the chain has reached
  Shape shape;          // its C, H, W for one sample (C*H*W, 1, 1 once flattened)
  int rank = 4;         // its ONNX rank: 4 (N, C, H, W) or 2 (N, features)
  std::vector<ImportedLayer> layers;
  size_t next = 0;      // index of the node after the one being converted (a converter may consume it)

  // "<file>: node '<name>' (<op>)".
  std::string where(const onnx::NodeProto& n) const;
  // Input i is present (an optional input may be missing or "").
  bool has_input(const onnx::NodeProto& n, int i) const;
  // Input i must be a constant; `role` says what it is ("weight W", "ratio").
  const onnx::TensorProto& constant_input(const onnx::NodeProto& n, int i, const std::string& role) const;
  FloatTensor float_input(const onnx::NodeProto& n, int i, const std::string& role) const;
  // Input 0 must be the chain's current tensor, and no other input may be a computed tensor.
  void expect_chain_input(const onnx::NodeProto& n) const;
  // Outputs after the first must be absent or unused (BN's running statistics, Dropout's mask,
  // MaxPool's indices).
  void expect_only_first_output(const onnx::NodeProto& n) const;
  // Adds a layer of desc.type: names it, runs its setup on `shape` (a mismatch is an Error naming
  // the node), checks the result against shape inference, and moves `current` to `output`.
  void add_layer(const onnx::NodeProto& n, LayerDesc desc, std::vector<std::pair<std::string, FloatTensor>> params,
                 const std::string& output, int out_rank);
  // An op that is the identity on the chain (Identity, inference Dropout without a layer).
  void pass_through(const onnx::NodeProto& n);

 private:
  std::string layer_name(const onnx::NodeProto& n, const std::string& type);
  void check_inferred(const onnx::NodeProto& n, const std::string& tensor) const;
  std::set<std::string> names_;
};

using Converter = void (*)(ChainBuilder& b, const onnx::NodeProto& n);
// Op type -> converter (onnx_import_ops.cpp). An op type not in the table is unsupported.
const std::map<std::string, Converter>& converters();

}  // namespace onnx_io
}  // namespace trim
