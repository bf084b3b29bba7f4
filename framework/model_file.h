// model_file.h - a trim model on disk: NAME.model (text description, darknet-like sections with
// named key=value pairs), NAME.weights (binary: magic, version, named tensors with shapes,
// CRC-32 checksum) and NAME.classes (one class name per line, optional).
//
// Loading validates everything and names the file and the offending entry on any mismatch or
// truncation. Every write goes to a temporary name and is renamed into place, so a killed run
// never leaves a torn file.
#pragma once

#include <string>

#include "framework/file_io.h"  // read_file, write_file_atomic: every trim file goes through them
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

// Throws Error (prefixed with `where`) unless `name` survives NAME.classes unchanged: not empty,
// no control characters (a newline would split it), no leading or trailing white space.
void check_class_name(const std::string& name, const std::string& where);


}  // namespace trim
