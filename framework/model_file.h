// model_file.h - a trim model on disk: NAME.model (text description, darknet-like sections with
// named key=value pairs), NAME.weights (binary: magic, version, named tensors with shapes,
// CRC-32 checksum) and NAME.classes (one class name per line, optional).
//
// Loading validates everything and names the file and the offending entry on any mismatch or
// truncation. Every write goes to a temporary name and is renamed into place, so a killed run
// never leaves a torn file.
#pragma once

#include <string>

#include "framework/model.h"

namespace trim {

// Text description <-> model. Parsing builds the model (parameters zero-initialised).
std::string model_to_desc(const Model& m);
Model model_from_desc(const std::string& text, const std::string& filename);

void save_weights(const Model& m, const std::string& path);
void load_weights(Model& m, const std::string& path);
// The same bytes in memory (checkpoints embed them); `what` names the source in errors.
std::string serialize_weights(const Model& m);
void deserialize_weights(Model& m, const std::string& bytes, const std::string& what);

// path is NAME.model (or NAME: ".model" is appended); weights and classes sit beside it.
void save_model(const Model& m, const std::string& path);
Model load_model(const std::string& path);
std::string weights_path_for(const std::string& model_path);
std::string classes_path_for(const std::string& model_path);

// Whole-file helpers shared by every writer and reader of trim files.
void write_file_atomic(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);  // throws Error naming the path

}  // namespace trim
