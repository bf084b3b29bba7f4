#include "models/zoo.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <sstream>

#include "framework/model_file.h"
#include "framework/option_values.h"

namespace trim {

namespace {

void conv_bn_relu(std::ostringstream& s, const std::string& name, int filters, int size, int stride,
                  int pad, int groups, const char* act) {
  s << "[conv]\nname=" << name << "\nfilters=" << filters << "\nsize=" << size << "\nstride=" << stride
    << "\npad=" << pad << "\ngroups=" << groups << "\nbias=0\n\n";
  s << "[batchnorm]\nname=" << name << "_bn\n\n";
  s << "[" << act << "]\nname=" << name << "_" << act << "\n\n";
}

void input_section(std::ostringstream& s, int c, int h, int w) {
  s << "[input]\nchannels=" << c << "\nheight=" << h << "\nwidth=" << w << "\n\n";
}

}  // namespace

std::string sicknet_desc(int channels, int height, int width, int classes) {
  std::ostringstream s;
  s << "# SICK-Net stand-in (trim): VGG-style, over-provisioned so pruning has room to work.\n";
  input_section(s, channels, height, width);
  std::vector<int> stages = {32, 64, 128};
  if (height >= 128 && width >= 128) stages.push_back(256);
  int conv = 1;
  for (size_t st = 0; st < stages.size(); ++st) {
    for (int j = 0; j < 2; ++j, ++conv)
      conv_bn_relu(s, "conv" + std::to_string(conv), stages[st], 3, 1, 1, 1, "relu");
    s << "[maxpool]\nname=pool" << st + 1 << "\nsize=2\nstride=2\n\n";
  }
  s << "[flatten]\nname=flatten\n\n";
  s << "[linear]\nname=fc1\nout=256\n\n[relu]\nname=fc1_relu\n\n[dropout]\nname=fc1_dropout\np=0.5\n\n";
  s << "[linear]\nname=fc2\nout=" << classes << "\n";
  return s.str();
}

Model build_sicknet(int channels, int height, int width, int classes) {
  return model_from_desc(sicknet_desc(channels, height, width, classes), "<sicknet>");
}

std::string mobilenet_v1_desc(const MobileNetV1Options& o) {
  if (o.alpha <= 0.f || o.alpha > 4.f) throw Error("mobilenet_v1: alpha must be in (0, 4], got " + std::to_string(o.alpha));
  auto width = [&](int c) { return std::max(8, static_cast<int>(std::lround(c * o.alpha))); };
  // (stride, out channels) of the stem conv and the 13 depthwise-separable blocks.
  std::vector<std::pair<int, int>> plan = {{2, 32},  {1, 64},  {2, 128}, {1, 128}, {2, 256},
                                           {1, 256}, {2, 512}, {1, 512}, {1, 512}, {1, 512},
                                           {1, 512}, {1, 512}, {2, 1024}, {1, 1024}};
  if (o.small_input) {
    // Drop the earliest strides until the final map is at least min_final_size.
    auto final_size = [&]() {
      int s = o.resolution;
      for (auto& p : plan) s = (s + 2 - 3) / p.first + 1;
      return s;
    };
    for (auto& p : plan) {
      if (final_size() >= o.min_final_size) break;
      if (p.first == 2) p.first = 1;
    }
  }
  const char* act = o.relu6 ? "relu6" : "relu";
  std::ostringstream s;
  s << "# MobileNet V1 (Howard et al. 2017), alpha=" << o.alpha << ", " << o.resolution << " px"
    << (o.small_input ? ", small-input variant" : "") << "\n";
  input_section(s, o.channels, o.resolution, o.resolution);
  conv_bn_relu(s, "conv1", width(plan[0].second), 3, plan[0].first, 1, 1, act);
  int in = width(plan[0].second);
  for (size_t b = 1; b < plan.size(); ++b) {
    std::string id = std::to_string(b);
    conv_bn_relu(s, "dw" + id, in, 3, plan[b].first, 1, in, act);
    int out = width(plan[b].second);
    conv_bn_relu(s, "pw" + id, out, 1, 1, 0, 1, act);
    in = out;
  }
  s << "[globalavgpool]\nname=pool\n\n[flatten]\nname=flatten\n\n";
  if (o.dropout > 0.f) s << "[dropout]\nname=drop\np=" << o.dropout << "\n\n";
  s << "[linear]\nname=fc\nout=" << o.classes << "\n";
  return s.str();
}

Model build_mobilenet_v1(const MobileNetV1Options& opt) {
  return model_from_desc(mobilenet_v1_desc(opt), "<mobilenet_v1>");
}

namespace {

const std::vector<std::pair<std::string, std::vector<std::string>>>& spec_keys() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> k = {
      {"sicknet", {"input", "classes"}},
      {"mobilenet_v1", {"input", "classes", "alpha", "small", "relu6", "dropout"}},
      {"mobilenet_v2", {"input", "classes", "alpha", "small", "dropout"}},
      {"resnet18", {"input", "classes", "width", "small"}},
      {"dwpw", {"input", "classes", "blocks"}}};
  return k;
}

Shape parse_input(const std::string& v, const std::string& where) {
  std::vector<int> d;
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t x = i < 2 ? v.find('x', pos) : v.size();
    if (x == std::string::npos) throw Error(where + ": bad value '" + v + "' (expected CxHxW, e.g. 3x224x224)");
    d.push_back(static_cast<int>(parse_int_in(v.substr(pos, x - pos), where, 1, i == 0 ? 4096 : 16384)));
    pos = x + 1;
  }
  return Shape(d);
}

std::string shape_text(const Shape& s) {
  return std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
}

// 4 x (depthwise 3x3 + pointwise C -> C, each with BN + ReLU), global pool, linear.
std::string dwpw_desc(const Shape& in, int classes, int blocks) {
  std::ostringstream d;
  const int c = in[0];
  d << "[input]\nchannels=" << c << "\nheight=" << in[1] << "\nwidth=" << in[2] << "\n";
  for (int b = 0; b < blocks; ++b)
    d << "[conv]\nfilters=" << c << "\nsize=3\npad=1\ngroups=" << c << "\nbias=0\n[batchnorm]\n[relu]\n"
      << "[conv]\nfilters=" << c << "\nsize=1\nbias=0\n[batchnorm]\n[relu]\n";
  d << "[globalavgpool]\n[flatten]\n[linear]\nout=" << classes << "\n";
  return d.str();
}

}  // namespace

const std::string* ModelSpec::find(const std::string& key) const {
  for (const auto& kv : keys)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

std::string model_spec_help() {
  return "NAME[:key=value,...]; NAME sicknet | mobilenet_v1 | mobilenet_v2 | resnet18 | dwpw; keys input=CxHxW, "
         "classes=N (all), alpha, small, dropout (mobilenet_v1, mobilenet_v2), relu6 (mobilenet_v1), width (resnet18), "
         "blocks (dwpw); e.g. mobilenet_v1:alpha=0.5,input=3x224x224; short names mobilenet_v1_0.5_224, "
         "mobilenet_v2_1.0_224, resnet18_224, sicknet_3x64x64, dwpw_16_28 mean the same specs";
}

namespace {

// The short names benchmarks and docs use ("mobilenet_v1_0.5_224", "resnet18_224", "dwpw_16_28",
// "sicknet_3x64x64") are spellings of specs, rewritten here so that one parser checks them.
std::string expand_short_name(const std::string& spec) {
  static const std::regex sicknet("sicknet_([0-9]+x[0-9]+x[0-9]+)");
  static const std::regex mobilenet("(mobilenet_v[12])_([0-9.]+)_([0-9]+)");
  static const std::regex resnet("resnet18_([0-9]+)");
  static const std::regex dwpw("dwpw_([0-9]+)_([0-9]+)");
  std::smatch g;
  if (std::regex_match(spec, g, sicknet)) return "sicknet:input=" + g.str(1);
  if (std::regex_match(spec, g, mobilenet)) return g.str(1) + ":alpha=" + g.str(2) + ",input=3x" + g.str(3) + "x" + g.str(3);
  if (std::regex_match(spec, g, resnet)) return "resnet18:input=3x" + g.str(1) + "x" + g.str(1);
  if (std::regex_match(spec, g, dwpw)) return "dwpw:input=" + g.str(1) + "x" + g.str(2) + "x" + g.str(2);
  return spec;
}

}  // namespace

ModelSpec parse_model_spec(const std::string& given) {
  const std::string spec = expand_short_name(given);
  ModelSpec m;
  const size_t colon = spec.find(':');
  m.name = spec.substr(0, colon);
  const std::vector<std::string>* known = nullptr;
  std::string names;
  for (const auto& k : spec_keys()) {
    if (k.first == m.name) known = &k.second;
    names += (names.empty() ? "" : ", ") + k.first;
  }
  if (!known) throw Error("unknown model '" + m.name + "' in '" + spec + "' (known: " + names + "; syntax " + model_spec_help() + ")");
  if (colon == std::string::npos) return m;
  if (colon + 1 == spec.size()) throw Error("model '" + spec + "': expected key=value after ':'");
  std::stringstream ss(spec.substr(colon + 1));
  std::string kv;
  while (std::getline(ss, kv, ',')) {
    const size_t eq = kv.find('=');
    const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    const std::string where = "model '" + spec + "': " + k;
    if (eq == std::string::npos || k.empty()) throw Error("model '" + spec + "': expected key=value, got '" + kv + "'");
    if (std::find(known->begin(), known->end(), k) == known->end()) {
      std::string list;
      for (const auto& x : *known) list += (list.empty() ? "" : ", ") + x;
      throw Error(where + ": unknown key (" + m.name + " knows " + list + ")");
    }
    if (m.find(k)) throw Error(where + ": given twice");
    if (k == "input") parse_input(v, where);
    else if (k == "classes") parse_int_in(v, where, 1, 100000);
    else if (k == "alpha") parse_double_in(v, where, 0, 4, true, false);
    else if (k == "small" || k == "relu6") parse_bool(v, where);
    else if (k == "dropout") parse_double_in(v, where, 0, 1, false, true);
    else if (k == "blocks") parse_int_in(v, where, 1, 64);
    else if (k == "width") parse_int_in(v, where, 4, 4096);
    m.keys.emplace_back(k, v);
  }
  return m;
}

Model build_model_spec(const std::string& text, const Shape& given_input, int given_classes) {
  const ModelSpec spec = parse_model_spec(text);
  Shape input = given_input;
  int classes = given_classes;
  if (const std::string* v = spec.find("input")) {
    const Shape s = parse_input(*v, "model '" + text + "': input");
    if (input.rank() == 3 && s != input)
      throw Error("model '" + text + "': input=" + *v + " but the data set's samples are " + shape_text(input));
    input = s;
  }
  if (const std::string* v = spec.find("classes")) {
    const int n = static_cast<int>(parse_int_in(*v, "model '" + text + "': classes", 1, 100000));
    if (classes > 0 && n != classes)
      throw Error("model '" + text + "': classes=" + *v + " but the data set has " + std::to_string(classes));
    classes = n;
  }
  if (spec.name == "sicknet") {
    if (input.rank() != 3) input = Shape{1, 28, 28};
    return build_sicknet(input[0], input[1], input[2], classes > 0 ? classes : 10);
  }
  if (spec.name == "dwpw") {
    if (input.rank() != 3) throw Error("model '" + text + "': dwpw needs input=CxHxW");
    const std::string* b = spec.find("blocks");
    return model_from_desc(dwpw_desc(input, classes > 0 ? classes : 10, b ? std::stoi(*b) : 4), text);
  }
  if (input.rank() != 3) input = Shape{3, 224, 224};
  if (input[1] != input[2])
    throw Error("model '" + text + "': " + spec.name + " needs a square input, got " + shape_text(input));
  const std::string where = "model '" + text + "': ";
  // Below 64 px every MobileNet/ResNet builder takes its small-input variant (the Fashion-MNIST one).
  const bool small = spec.find("small") ? parse_bool(*spec.find("small"), where + "small") : input[1] < 64;
  if (spec.name == "mobilenet_v2") {
    MobileNetV2Options o;
    o.channels = input[0], o.resolution = input[1], o.classes = classes > 0 ? classes : 1000, o.small_input = small;
    if (const std::string* v = spec.find("alpha")) o.alpha = static_cast<float>(parse_double_in(*v, where + "alpha", 0, 4, true));
    if (const std::string* v = spec.find("dropout"))
      o.dropout = static_cast<float>(parse_double_in(*v, where + "dropout", 0, 1, false, true));
    return build_mobilenet_v2(o);
  }
  if (spec.name == "resnet18") {
    ResNet18Options o;
    o.channels = input[0], o.resolution = input[1], o.classes = classes > 0 ? classes : 1000, o.small_input = small;
    if (const std::string* v = spec.find("width")) o.width = static_cast<int>(parse_int_in(*v, where + "width", 4, 4096));
    return build_resnet18(o);
  }
  MobileNetV1Options o;
  o.channels = input[0];
  o.resolution = input[1];
  o.classes = classes > 0 ? classes : 1000;
  o.small_input = small;
  o.alpha = o.resolution < 64 ? 0.5f : 1.0f;  // the Fashion-MNIST default is 0.5, small input
  if (const std::string* v = spec.find("alpha")) o.alpha = static_cast<float>(parse_double_in(*v, where + "alpha", 0, 4, true));
  if (const std::string* v = spec.find("relu6")) o.relu6 = parse_bool(*v, where + "relu6");
  if (const std::string* v = spec.find("dropout"))
    o.dropout = static_cast<float>(parse_double_in(*v, where + "dropout", 0, 1, false, true));
  return build_mobilenet_v1(o);
}

Model build_model_by_name(const std::string& spec, int channels, int height, int width, int classes) {
  return build_model_spec(spec, Shape{channels, height, width}, classes);
}

}  // namespace trim
