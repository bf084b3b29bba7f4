// onnx_tensor.h - ONNX TensorProto and AttributeProto <-> plain values, bounds-checked: every
// count comes from the file, so it is computed in 64 bits and compared with the bytes actually
// present before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "interop/onnx_proto.h"

namespace trim {
namespace onnx_io {

// A float tensor from an initializer or a Constant node.
struct FloatTensor {
  std::vector<int64_t> dims;
  std::vector<float> values;
  int64_t numel() const { return static_cast<int64_t>(values.size()); }
};

// `what` names the tensor in errors, e.g. "model.onnx: initializer 'conv1.weight'".
// A tensor that is not FLOAT, has external data, or whose data does not match its dims: Error.
FloatTensor read_float_tensor(const onnx::TensorProto& t, const std::string& what);
// INT64 (or INT32) tensors: Reshape's shape input.
std::vector<int64_t> read_int_tensor(const onnx::TensorProto& t, const std::string& what);
// The name of an ONNX data type ("FLOAT", "INT64", ...), for messages.
std::string data_type_name(int32_t type);

void write_float_tensor(onnx::TensorProto* t, const std::string& name, const std::vector<int64_t>& dims,
                        const float* data);

// Attribute access for one node. Every getter checks the attribute's type; `where` (the file
// and the node) prefixes every error.
class NodeAttrs {
 public:
  NodeAttrs(const onnx::NodeProto& node, std::string where);
  // Error for any attribute not in `known` (one the converter would otherwise ignore).
  void only(const std::vector<std::string>& known) const;
  bool has(const std::string& name) const { return find(name) != nullptr; }
  int64_t i(const std::string& name, int64_t dflt) const;
  float f(const std::string& name, float dflt) const;
  std::string s(const std::string& name, const std::string& dflt) const;
  std::vector<int64_t> ints(const std::string& name, const std::vector<int64_t>& dflt) const;
  const onnx::TensorProto* tensor(const std::string& name) const;  // nullptr if absent
  // "<where>: attribute 'name' = <value>: <why>" as an Error.
  [[noreturn]] void reject(const std::string& name, const std::string& why) const;
  const std::string& where() const { return where_; }

 private:
  const onnx::AttributeProto* find(const std::string& name) const;
  std::string value_text(const onnx::AttributeProto& a) const;
  const onnx::NodeProto& node_;
  std::string where_;
};

std::string ints_text(const std::vector<int64_t>& v);  // "[1, 2]"

}  // namespace onnx_io
}  // namespace trim
