// zoo_graphs.cpp - the graph (residual) networks of the zoo: MobileNet V2 and ResNet-18. Like the
// chains in zoo.cpp, each builder writes a text description (with from= for the shortcuts) and
// parses it, so a built-in model and a model file are the same thing.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "framework/model_file.h"
#include "models/zoo.h"

namespace trim {

namespace {

void section_input(std::ostringstream& s, int c, int h, int w) {
  s << "[input]\nchannels=" << c << "\nheight=" << h << "\nwidth=" << w << "\n\n";
}

// conv (no bias) + BN, then `act` unless it is empty. `from` empty: the section before.
void conv_bn(std::ostringstream& s, const std::string& name, const std::string& from, int filters, int size,
             int stride, int groups, const char* act) {
  s << "[conv]\nname=" << name << "\n";
  if (!from.empty()) s << "from=" << from << "\n";
  s << "filters=" << filters << "\nsize=" << size << "\nstride=" << stride << "\npad=" << size / 2
    << "\ngroups=" << groups << "\nbias=0\n\n";
  s << "[batchnorm]\nname=" << name << "_bn\n\n";
  if (act && *act) s << "[" << act << "]\nname=" << name << "_" << act << "\n\n";
}

// Channels rounded to a multiple of 8, never more than 10% below c (the reference
// implementations' make_divisible), so every layer fills whole SIMD vectors.
int divisible8(double c) {
  int v = std::max(8, static_cast<int>(c + 4) / 8 * 8);
  if (v < 0.9 * c) v += 8;
  return v;
}

}  // namespace

std::string mobilenet_v2_desc(const MobileNetV2Options& o) {
  if (o.alpha <= 0.f || o.alpha > 4.f) throw Error("mobilenet_v2: alpha must be in (0, 4], got " + std::to_string(o.alpha));
  if (o.resolution < 8 || o.resolution > 4096)
    throw Error("mobilenet_v2: resolution must be in [8, 4096], got " + std::to_string(o.resolution));
  // Sandler et al. 2018, table 2: expansion t, output channels c, repeats n, first stride s.
  struct Stage {
    int t, c, n, s;
  };
  std::vector<Stage> stages = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                               {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int stem_stride = 2;
  if (o.small_input) {
    // As for V1: drop the earliest strides until the last map is at least min_final_size.
    auto final_size = [&]() {
      int sz = (o.resolution + 2 - 3) / stem_stride + 1;
      for (const auto& st : stages) sz = (sz + 2 - 3) / st.s + 1;
      return sz;
    };
    if (final_size() < o.min_final_size) stem_stride = 1;
    for (auto& st : stages) {
      if (final_size() >= o.min_final_size) break;
      if (st.s == 2) st.s = 1;
    }
  }
  std::ostringstream s;
  s << "# MobileNet V2 (Sandler et al. 2018), alpha=" << o.alpha << ", " << o.resolution << " px"
    << (o.small_input ? ", small-input variant" : "") << "\n";
  section_input(s, o.channels, o.resolution, o.resolution);
  int in = divisible8(32 * o.alpha);
  conv_bn(s, "conv1", "", in, 3, stem_stride, 1, "relu6");
  std::string prev = "conv1_relu6";  // the last section of the previous block
  int block = 0;
  for (const auto& st : stages) {
    const int out = divisible8(st.c * o.alpha);
    for (int r = 0; r < st.n; ++r) {
      const std::string id = "b" + std::to_string(++block);
      const int stride = r == 0 ? st.s : 1;
      const int hidden = in * st.t;
      if (st.t != 1) conv_bn(s, id + "_expand", "", hidden, 1, 1, 1, "relu6");
      conv_bn(s, id + "_dw", "", hidden, 3, stride, hidden, "relu6");
      conv_bn(s, id + "_project", "", out, 1, 1, 1, "");  // linear bottleneck: no activation
      if (stride == 1 && in == out) {
        s << "[add]\nname=" << id << "_add\nfrom=" << id << "_project_bn," << prev << "\n\n";
        prev = id + "_add";
      } else {
        prev = id + "_project_bn";
      }
      in = out;
    }
  }
  const int last = o.alpha > 1.f ? divisible8(1280 * o.alpha) : 1280;
  conv_bn(s, "conv_last", "", last, 1, 1, 1, "relu6");
  s << "[globalavgpool]\nname=pool\n\n[flatten]\nname=flatten\n\n";
  if (o.dropout > 0.f) s << "[dropout]\nname=drop\np=" << o.dropout << "\n\n";
  s << "[linear]\nname=fc\nout=" << o.classes << "\n";
  return s.str();
}

Model build_mobilenet_v2(const MobileNetV2Options& opt) {
  return model_from_desc(mobilenet_v2_desc(opt), "<mobilenet_v2>");
}

std::string resnet18_desc(const ResNet18Options& o) {
  if (o.width < 8 || o.width > 256) throw Error("resnet18: width must be in [8, 256], got " + std::to_string(o.width));
  if (o.resolution < 8 || o.resolution > 4096)
    throw Error("resnet18: resolution must be in [8, 4096], got " + std::to_string(o.resolution));
  std::ostringstream s;
  s << "# ResNet-18 (He et al. 2016), basic blocks, projection shortcuts, width " << o.width << ", "
    << o.resolution << " px" << (o.small_input ? ", small-input variant (3x3 stem, no max pool)" : "") << "\n";
  section_input(s, o.channels, o.resolution, o.resolution);
  std::string prev;
  if (o.small_input) {
    conv_bn(s, "conv1", "", o.width, 3, 1, 1, "relu");
    prev = "conv1_relu";
  } else {
    conv_bn(s, "conv1", "", o.width, 7, 2, 1, "relu");
    s << "[maxpool]\nname=pool1\nsize=3\nstride=2\npad=1\n\n";
    prev = "pool1";
  }
  int in = o.width;
  for (int stage = 0; stage < 4; ++stage) {
    const int out = o.width << stage;
    for (int b = 0; b < 2; ++b) {
      const std::string id = "s" + std::to_string(stage + 1) + "b" + std::to_string(b + 1);
      const int stride = stage > 0 && b == 0 ? 2 : 1;
      conv_bn(s, id + "_c1", "", out, 3, stride, 1, "relu");
      conv_bn(s, id + "_c2", "", out, 3, 1, 1, "");
      std::string shortcut = prev;
      if (stride != 1 || in != out) {
        conv_bn(s, id + "_sc", prev, out, 1, stride, 1, "");  // projection: 1x1 conv + BN
        shortcut = id + "_sc_bn";
      }
      s << "[add]\nname=" << id << "_add\nfrom=" << id << "_c2_bn," << shortcut << "\n\n";
      s << "[relu]\nname=" << id << "_relu\n\n";
      prev = id + "_relu";
      in = out;
    }
  }
  s << "[globalavgpool]\nname=pool\n\n[flatten]\nname=flatten\n\n";
  s << "[linear]\nname=fc\nout=" << o.classes << "\n";
  return s.str();
}

Model build_resnet18(const ResNet18Options& opt) { return model_from_desc(resnet18_desc(opt), "<resnet18>"); }

}  // namespace trim
