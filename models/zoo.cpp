#include "models/zoo.h"

#include <cmath>
#include <sstream>

#include "framework/model_file.h"

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

Model build_model_by_name(const std::string& spec, int channels, int height, int width, int classes) {
  std::string name = spec, args;
  size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    name = spec.substr(0, colon);
    args = spec.substr(colon + 1);
  }
  if (name == "sicknet") {
    if (!args.empty()) throw Error("model 'sicknet' takes no options, got '" + args + "'");
    return build_sicknet(channels, height, width, classes);
  }
  if (name == "mobilenet_v1") {
    MobileNetV1Options o;
    o.channels = channels;
    o.resolution = height;
    o.classes = classes;
    if (height != width) throw Error("mobilenet_v1 needs a square input, got " + std::to_string(height) + "x" + std::to_string(width));
    o.small_input = height < 64;
    o.alpha = height < 64 ? 0.5f : 1.0f;  // the Fashion-MNIST default is 0.5, small input
    std::stringstream ss(args);
    std::string kv;
    while (std::getline(ss, kv, ',')) {
      if (kv.empty()) continue;
      size_t eq = kv.find('=');
      std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
      try {
        if (k == "alpha") o.alpha = std::stof(v);
        else if (k == "small") o.small_input = std::stoi(v) != 0;
        else if (k == "relu6") o.relu6 = std::stoi(v) != 0;
        else if (k == "dropout") o.dropout = std::stof(v);
        else throw Error("mobilenet_v1: unknown option '" + k + "' (known: alpha, small, relu6, dropout)");
      } catch (const std::logic_error&) {
        throw Error("mobilenet_v1: bad value for option '" + k + "': '" + v + "'");
      }
    }
    return build_mobilenet_v1(o);
  }
  bool known = false;
  Model g = build_graph_model_by_name(name, args, channels, height, width, classes, &known);
  if (known) return g;
  throw Error("unknown model '" + name +
              "' (known: sicknet, mobilenet_v1[:alpha=0.5,small=1,relu6=1,dropout=0.2], "
              "mobilenet_v2[:alpha=1,small=1,dropout=0.2], resnet18[:width=64,small=1])");
}

}  // namespace trim
