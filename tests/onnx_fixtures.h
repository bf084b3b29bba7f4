// onnx_fixtures.h - shared by the ONNX tests: running trim's two forward paths on a batch, the
// relative logit error, and whether the outside tools (python3 with torch, node with
// onnxruntime-node) are there.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "framework/engine/engine.h"
#include "framework/model.h"

namespace trim {
namespace onnx_test {

inline std::vector<float> read_floats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(b.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

inline void write_floats(const std::string& path, const float* p, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n * 4));
}

// Largest |a - b| over the largest |b|: the error relative to the size of the logits (a single
// logit near zero would make a per-element ratio meaningless).
inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
    m = std::max(m, std::fabs(static_cast<double>(b[i])));
  }
  return m > 0 ? d / m : d;
}

inline std::vector<float> engine_logits(const Model& m, const Tensor& x) {
  InferenceEngine e(m);
  const Tensor& y = e.run(x);
  return std::vector<float>(y.data(), y.data() + y.numel());
}

// The training forward in eval mode (layer by layer, BN with running statistics).
inline std::vector<float> training_logits(Model& m, const Tensor& x) {
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Eval;
  ctx.workspace = &ws;
  const Tensor& y = m.forward(x, ctx);
  return std::vector<float>(y.data(), y.data() + y.numel());
}

inline bool command_ok(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

inline std::string torch_python() {
  // Debian's python3-torch lives under /usr/bin/python3 (the first python3 on PATH may be another).
  return command_ok("/usr/bin/python3 -c 'import torch'") ? "/usr/bin/python3" : "";
}

inline std::string peers_dir() { return std::string(TRIM_SOURCE_DIR) + "/bench/peers"; }
inline bool have_ort() {
  return command_ok("command -v node") &&
         command_ok("test -d '" + peers_dir() + "/node_modules/onnxruntime-node'");
}

// ONNX Runtime's output for one image (bench/peers/ort_worker.js), "" on failure.
inline std::vector<float> ort_logits(const std::string& onnx, const std::string& input_bin, const Shape& in) {
  const std::string cmd = "printf 'output\\nquit\\n' | node '" + peers_dir() + "/ort_worker.js' '" + onnx + "' 1 '" +
                          input_bin + "' " + std::to_string(in[0]) + " " + std::to_string(in[1]) + " " +
                          std::to_string(in[2]) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::vector<float> out;
  if (!p) return out;
  std::string all;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) all.append(buf, n);
  ::pclose(p);
  const size_t at = all.find("\"output\":[");
  if (at == std::string::npos) {
    std::fprintf(stderr, "ort_worker.js said: %s\n", all.substr(0, 2000).c_str());
    return out;
  }
  const char* s = all.c_str() + at + 10;
  while (*s && *s != ']') {
    char* end = nullptr;
    out.push_back(std::strtof(s, &end));
    if (end == s) break;
    s = end;
    if (*s == ',') ++s;
  }
  return out;
}

}  // namespace onnx_test
}  // namespace trim
