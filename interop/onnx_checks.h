// onnx_checks.h - onnx's own validation, with its exceptions turned into trim::Error naming the
// file: the checker (onnx::checker::check_model) and strict shape inference.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "interop/onnx_proto.h"

namespace trim {
namespace onnx_io {

void run_checker(const onnx::ModelProto& model, const std::string& what);
// Runs shape inference on a copy (errors are errors, not warnings) and returns the inferred dims
// of every tensor with a known shape (-1 for a dimension without a fixed value).
std::map<std::string, std::vector<int64_t>> infer_shapes(const onnx::ModelProto& model, const std::string& what);

}  // namespace onnx_io
}  // namespace trim
