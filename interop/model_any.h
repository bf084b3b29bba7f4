// model_any.h - the one entry point tools use to read or write a model in either format:
// NAME.onnx goes through the ONNX importer/exporter, anything else is a trim NAME.model.
// Built without ONNX (the static aarch64 build), an .onnx path is an Error that says so.
#pragma once

#include <string>

#include "framework/model.h"

namespace trim {

bool is_onnx_path(const std::string& path);  // ends with ".onnx"
bool onnx_supported();                        // this build has the ONNX importer/exporter

Model load_model_any(const std::string& path);
void save_model_any(const Model& m, const std::string& path);

}  // namespace trim
