// onnx_import.h - an ONNX model (a chain CNN as PyTorch, TensorFlow converters and model zoos
// write it) -> a trim Model with its weights. Node by node: each ONNX op type has a converter
// (onnx_import_ops.cpp) that maps it onto trim layers; initializers become the weights. The file
// must pass onnx's checker, and the shapes trim computes for every layer must agree with onnx's
// shape inference. docs/onnx.md lists what is covered and how each op maps.
#pragma once

#include <string>
#include <vector>

#include "framework/model.h"

namespace trim {

struct OnnxImportOptions {
  // Class names for the outputs; empty: the model's metadata_props "classes" (one name per
  // line), if any.
  std::vector<std::string> class_names;
};

// Errors (trim::Error) name the file, the node (name and op type) and the attribute or input.
Model import_onnx(const std::string& path, const OnnxImportOptions& opt = {});
// The same from bytes in memory; `what` names them in errors (the fuzz target uses this).
Model import_onnx_bytes(const std::string& bytes, const std::string& what, const OnnxImportOptions& opt = {});

// The opsets (default domain) the importer accepts.
constexpr int kOnnxImportMinOpset = 9;
constexpr int kOnnxImportMaxOpset = 17;

}  // namespace trim
