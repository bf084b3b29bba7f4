// onnx_export.h - a trim Model -> an ONNX model (one node per trim layer, weights as
// initializers named "<layer>.<param>", class names in metadata_props "classes"). The result
// passes onnx's checker and onnx's shape inference agrees with trim's output shape before it is
// written; import_onnx reads it back to the same description and weights.
#pragma once

#include <string>

#include "framework/model.h"

namespace trim {

// opset 13 (the default): every op trim writes has its current form there (Clip's bounds and
// Dropout's ratio as inputs, BatchNormalization without the training outputs), it is
// torch.onnx.export's default, and ONNX Runtime, TensorRT, OpenVINO and the TFLite converters
// have read it for years. 14-17 change nothing trim writes (BatchNormalization gains
// training_mode, default off), so they are accepted too.
constexpr int kOnnxExportDefaultOpset = 13;

std::string export_onnx_bytes(const Model& m, int opset = kOnnxExportDefaultOpset);
// Written to a temporary name and renamed into place.
void export_onnx(const Model& m, const std::string& path, int opset = kOnnxExportDefaultOpset);

}  // namespace trim
