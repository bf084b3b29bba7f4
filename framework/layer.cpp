#include "framework/layer.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/dropout.h"
#include "framework/layers/linear.h"
#include "framework/layers/pool2d.h"

namespace trim {

bool LayerDesc::has(const std::string& key) const {
  for (const auto& p : kv)
    if (p.first == key) return true;
  return false;
}

std::string LayerDesc::get(const std::string& key, const std::string& dflt) const {
  for (const auto& p : kv)
    if (p.first == key) return p.second;
  return dflt;
}

std::string LayerDesc::where() const {
  return (file.empty() ? std::string("<model>") : file) + ":" + std::to_string(line) + " [" + type + "]";
}

std::string LayerDesc::where(const std::string& key) const {
  for (size_t i = 0; i < kv.size() && i < kv_lines.size(); ++i)
    if (kv[i].first == key)
      return (file.empty() ? std::string("<model>") : file) + ":" + std::to_string(kv_lines[i]) + " [" + type + "]";
  return where();
}

int LayerDesc::get_int(const std::string& key, int dflt) const {
  if (!has(key)) return dflt;
  std::string v = get(key, "");
  errno = 0;
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || x < -(1L << 30) || x > (1L << 30))
    throw Error(where(key) + ": key '" + key + "' must be an integer, got '" + v + "'");
  return static_cast<int>(x);
}

float LayerDesc::get_float(const std::string& key, float dflt) const {
  if (!has(key)) return dflt;
  std::string v = get(key, "");
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x))
    throw Error(where(key) + ": key '" + key + "' must be a number, got '" + v + "'");
  return static_cast<float>(x);
}

int LayerDesc::require_int(const std::string& key) const {
  if (!has(key)) throw Error(where() + ": missing key '" + key + "'");
  return get_int(key, 0);
}

void LayerDesc::set(const std::string& key, const std::string& value) {
  for (auto& p : kv)
    if (p.first == key) {
      p.second = value;
      return;
    }
  kv.emplace_back(key, value);
}

float* Workspace::get(size_t n_floats) {
  if (n_floats > kMaxFloats)
    throw Error("workspace of " + std::to_string(n_floats) + " floats requested, more than the " +
                std::to_string(kMaxFloats) + " allowed");
  if (n_floats > buf_.numel()) buf_ = Tensor(Shape{static_cast<int>(n_floats)});
  return buf_.data();
}

namespace {

// Keys each layer type accepts, besides "name". Anything else is a typo worth an error.
struct LayerKind {
  std::vector<std::string> keys;
  std::function<std::unique_ptr<Layer>(const LayerDesc&)> make;
};

const std::map<std::string, LayerKind>& layer_kinds() {
  static const std::map<std::string, LayerKind> kinds = {
      {"conv", {{"filters", "size", "stride", "pad", "groups", "bias"},
                [](const LayerDesc& d) { return std::unique_ptr<Layer>(new Conv2d(d)); }}},
      {"batchnorm", {{"eps", "momentum"},
                     [](const LayerDesc& d) { return std::unique_ptr<Layer>(new BatchNorm2d(d)); }}},
      {"relu", {{}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new ReLU(d)); }}},
      {"relu6", {{}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new ReLU6(d)); }}},
      {"maxpool", {{"size", "stride", "pad"},
                   [](const LayerDesc& d) { return std::unique_ptr<Layer>(new MaxPool2d(d)); }}},
      {"avgpool", {{"size", "stride", "pad"},
                   [](const LayerDesc& d) { return std::unique_ptr<Layer>(new AvgPool2d(d)); }}},
      {"globalavgpool", {{}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new GlobalAvgPool(d)); }}},
      {"flatten", {{}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new Flatten(d)); }}},
      {"linear", {{"out", "bias"}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new Linear(d)); }}},
      {"dropout", {{"p"}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new Dropout(d)); }}},
  };
  return kinds;
}

}  // namespace

std::unique_ptr<Layer> make_layer(const LayerDesc& desc) {
  const auto& kinds = layer_kinds();
  auto it = kinds.find(desc.type);
  if (it == kinds.end()) {
    std::string known;
    for (const auto& k : kinds) known += (known.empty() ? "" : ", ") + k.first;
    throw Error(desc.where() + ": unknown layer type '" + desc.type + "' (known: " + known + ")");
  }
  for (const auto& p : desc.kv) {
    if (p.first == "name") continue;
    bool ok = false;
    for (const auto& k : it->second.keys) ok = ok || k == p.first;
    if (!ok) throw Error(desc.where(p.first) + ": unknown key '" + p.first + "' for layer type '" + desc.type + "'");
  }
  std::unique_ptr<Layer> layer = it->second.make(desc);
  layer->set_name(desc.get("name", ""));
  return layer;
}

}  // namespace trim
