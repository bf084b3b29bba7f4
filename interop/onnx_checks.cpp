#include "interop/onnx_checks.h"

#include <exception>

#include "framework/tensor.h"
#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"

namespace trim {
namespace onnx_io {

void run_checker(const onnx::ModelProto& model, const std::string& what) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(what + ": fails onnx's model checker: " + std::string(e.what()).substr(0, 2000));
  }
}

namespace {

void collect(const onnx::ValueInfoProto& v, std::map<std::string, std::vector<int64_t>>& out) {
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
  std::vector<int64_t> dims;
  for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  out[v.name()] = dims;
}

}  // namespace

std::map<std::string, std::vector<int64_t>> infer_shapes(const onnx::ModelProto& model, const std::string& what) {
  onnx::ModelProto copy = model;
  try {
    onnx::ShapeInferenceOptions opt;
    opt.check_type = true;
    opt.error_mode = 1;  // throw on an inconsistency instead of skipping the node
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), opt);
  } catch (const std::exception& e) {
    throw Error(what + ": onnx's shape inference fails: " + std::string(e.what()).substr(0, 2000));
  }
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& v : copy.graph().value_info()) collect(v, out);
  for (const auto& v : copy.graph().output()) collect(v, out);
  return out;
}

}  // namespace onnx_io
}  // namespace trim
