// convert - a model between trim's format and ONNX; the direction comes from the extensions.
//
//   convert net.onnx net.model                  # import: net.model, net.weights (+ net.classes)
//   convert net.onnx net.model --classes names.txt
//   convert runs/prune/pruned.model pruned.onnx # export (opset 13), checked by onnx's checker
//
// Import covers the chain CNNs trim runs (docs/onnx.md lists the ops); anything else is an
// error naming the file, the node and the attribute, with exit status 1.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "framework/cli_options.h"
#include "framework/model_file.h"
#include "interop/model_any.h"
#ifdef TRIM_HAVE_ONNX
#include "interop/onnx_export.h"
#include "interop/onnx_import.h"
#endif

using namespace trim;

namespace {

std::string stem(const std::string& p) {
  const size_t dot = p.find_last_of('.'), slash = p.find_last_of('/');
  return dot != std::string::npos && (slash == std::string::npos || dot > slash) ? p.substr(0, dot) : p;
}

std::vector<std::string> read_classes(const std::string& path) {
  std::vector<std::string> names;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw Error(path + ": no class names (one per line)");
  return names;
}

int convert_main(int argc, char** argv) {
  CliOptions o("convert", "Convert a model between trim's format (NAME.model) and ONNX (NAME.onnx); the extensions say which way.");
  o.option("classes", "", "import: a file of class names, one per line (default: the ONNX metadata_props 'classes', if any)");
  o.option("opset", "13", "export: the ONNX opset to write (13 to 17)");
  if (!o.parse(argc, argv)) {
    std::fputs(o.usage().c_str(), stdout);
    std::fputs("\nusage: convert IN OUT   (IN.onnx -> OUT.model imports, IN.model -> OUT.onnx exports)\n", stdout);
    return 0;
  }
  const auto pos = o.positional();
  if (pos.size() != 2) throw Error("expected two arguments, IN and OUT (see --help), got " + std::to_string(pos.size()));
  const std::string in = pos[0], out = pos[1];
  if (!onnx_supported()) throw Error(in + ": this build of trim has no ONNX support (libonnx-dev not found at configure time)");
#ifdef TRIM_HAVE_ONNX
  const bool in_onnx = is_onnx_path(in), out_onnx = is_onnx_path(out);
  if (in_onnx == out_onnx)
    throw Error("one of IN and OUT must be an .onnx file and the other a trim .model (got '" + in + "' -> '" + out + "')");
  // Different extensions, so OUT (NAME.model + .weights + .classes, or NAME.onnx) never overwrites IN.
  if (in_onnx) {
    OnnxImportOptions opt;
    if (o.given("classes")) opt.class_names = read_classes(o.str("classes"));
    Model m = import_onnx(in, opt);
    save_model(m, stem(out) + ".model");
    std::printf("%s -> %s.model: %zu layers, %lld MACs, %zu parameters, %d classes%s\n", in.c_str(), stem(out).c_str(),
                m.layers.size(), static_cast<long long>(m.macs()), m.num_params(), m.classes(),
                m.class_names.empty() ? " (no class names)" : " (named)");
  } else {
    if (o.given("classes")) throw Error("--classes applies to import; the exported model takes the .classes file beside IN");
    Model m = load_model(in);
    export_onnx(m, out, o.integer("opset"));
    std::printf("%s -> %s: %zu layers, %lld MACs, opset %d, onnx checker passed\n", in.c_str(), out.c_str(), m.layers.size(),
                static_cast<long long>(m.macs()), o.integer("opset"));
  }
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("convert", convert_main, argc, argv); }
