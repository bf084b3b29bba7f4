#include "interop/model_any.h"

#include "framework/model_file.h"
#ifdef TRIM_HAVE_ONNX
#include "interop/onnx_export.h"
#include "interop/onnx_import.h"
#endif

namespace trim {

bool is_onnx_path(const std::string& path) {
  const std::string ext = ".onnx";
  return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

#ifdef TRIM_HAVE_ONNX
bool onnx_supported() { return true; }
Model load_model_any(const std::string& path) { return is_onnx_path(path) ? import_onnx(path) : load_model(path); }
void save_model_any(const Model& m, const std::string& path) {
  if (is_onnx_path(path))
    export_onnx(m, path);
  else
    save_model(m, path);
}
#else
namespace {
[[noreturn]] void no_onnx(const std::string& path) {
  throw Error(path + ": this build of trim has no ONNX support (libonnx-dev was not found when it was configured; "
                     "the static aarch64 build never has it): convert the model with a host build's tools/convert");
}
}  // namespace
bool onnx_supported() { return false; }
Model load_model_any(const std::string& path) {
  if (is_onnx_path(path)) no_onnx(path);
  return load_model(path);
}
void save_model_any(const Model& m, const std::string& path) {
  if (is_onnx_path(path)) no_onnx(path);
  save_model(m, path);
}
#endif

}  // namespace trim
