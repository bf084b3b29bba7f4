#include "framework/layer.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "framework/layers/activation.h"
#include "framework/layers/add.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/concat.h"
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
      {"add", {{}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new Add(d)); }}},
      {"concat", {{}, [](const LayerDesc& d) { return std::unique_ptr<Layer>(new Concat(d)); }}},
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
    if (p.first == "name" || p.first == "from") continue;
    bool ok = false;
    for (const auto& k : it->second.keys) ok = ok || k == p.first;
    if (!ok) throw Error(desc.where(p.first) + ": unknown key '" + p.first + "' for layer type '" + desc.type + "'");
  }
  std::unique_ptr<Layer> layer = it->second.make(desc);
  layer->set_name(desc.get("name", ""));
  layer->set_desc_where(desc.where());
  if (desc.has("from")) {
    // Comma-separated layer names; spaces around a name are ignored, an empty name is an error.
    std::vector<std::string> names;
    const std::string v = desc.get("from", "");
    size_t start = 0;
    while (true) {
      const size_t comma = v.find(',', start);
      std::string n = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const size_t a = n.find_first_not_of(" \t"), b = n.find_last_not_of(" \t");
      n = a == std::string::npos ? "" : n.substr(a, b - a + 1);
      if (n.empty()) throw Error(desc.where("from") + ": key 'from' has an empty layer name in '" + v + "'");
      names.push_back(n);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    layer->set_input_names(std::move(names), desc.where("from"));
  }
  return layer;
}

void Layer::forward_relu(Tensor&, const Tensor&, Context&) {
  throw Error(type() + " '" + name_ + "' has no fused ReLU step");
}

void Layer::backward_relu(Tensor*, const Tensor&, const Tensor&, const Tensor&, Context&) {
  throw Error(type() + " '" + name_ + "' has no fused ReLU step");
}

}  // namespace trim
