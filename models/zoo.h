// zoo.h - builders for the networks trim ships. Each builder writes a text model description
// (the same format as NAME.model files) and parses it, so a built-in model and a model file are
// the same thing. models/*.model hold the descriptions for Fashion-MNIST.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/model.h"

namespace trim {

// SICK-Net stand-in (../shared/METHOD.md): 3 stages of 2x (conv3x3 + BN + ReLU) with 32/64/128
// channels and a max pool after each stage, flatten, FC 256 + ReLU + dropout 0.5, FC classes.
// For inputs of 128 px and more a fourth stage (256 channels) is added.
std::string sicknet_desc(int channels, int height, int width, int classes);
Model build_sicknet(int channels, int height, int width, int classes);

struct MobileNetV1Options {
  float alpha = 1.0f;       // width multiplier: 0.25, 0.5, 0.75, 1.0
  int resolution = 224;     // square input
  int channels = 3;         // input channels
  int classes = 1000;
  // Small-input variant: for low resolutions, the earliest stride-2 layers become stride 1 until
  // the last feature map is at least min_final_size x min_final_size (28 px: the stem stride
  // is dropped, so 28 -> 28 -> 14 -> 7 -> 4 -> 2).
  bool small_input = false;
  int min_final_size = 2;
  bool relu6 = false;       // the paper's V1 uses ReLU; ReLU6 as in TF's reference is optional
  float dropout = 0.0f;     // before the classifier (0: none)
};
std::string mobilenet_v1_desc(const MobileNetV1Options& opt);
Model build_mobilenet_v1(const MobileNetV1Options& opt);

// MobileNet V2 (Sandler et al. 2018): inverted residual bottlenecks (1x1 expand + ReLU6, 3x3
// depthwise + ReLU6, 1x1 linear projection), an add where stride is 1 and channels match.
// Channels are alpha * the paper's, rounded to multiples of 8. The small-input variant drops the
// earliest strides like V1's (28 px: the stem stride goes, 28 -> 28 -> 14 -> 7 -> 4 -> 2).
struct MobileNetV2Options {
  float alpha = 1.0f;
  int resolution = 224;
  int channels = 3;
  int classes = 1000;
  bool small_input = false;
  int min_final_size = 2;
  float dropout = 0.0f;
};
std::string mobilenet_v2_desc(const MobileNetV2Options& opt);
Model build_mobilenet_v2(const MobileNetV2Options& opt);

// ResNet-18 (He et al. 2016): 4 stages of 2 basic blocks (3x3 conv + BN + ReLU, 3x3 conv + BN,
// add, ReLU) with width, 2x, 4x, 8x channels; the first block of stages 2-4 halves the map and
// takes a projection shortcut (1x1 conv stride 2 + BN). The small-input variant (CIFAR style)
// has a 3x3 stride-1 stem and no max pool (28 px: 28 -> 28 -> 14 -> 7 -> 4).
struct ResNet18Options {
  int width = 64;
  int resolution = 224;
  int channels = 3;
  int classes = 1000;
  bool small_input = false;
};
std::string resnet18_desc(const ResNet18Options& opt);
Model build_resnet18(const ResNet18Options& opt);

// Model specs: the one syntax every tool and benchmark takes for a built-in model,
//   NAME[:key=value,...]
// NAME: sicknet | mobilenet_v1 | mobilenet_v2 | resnet18 | dwpw (4 x depthwise 3x3 + pointwise
// C -> C, for sweeps). Keys: input=CxHxW and classes=N (all models), alpha=(0,4], small=0|1,
// dropout=[0,1) (mobilenet_v1, mobilenet_v2), relu6=0|1 (mobilenet_v1), width=N (resnet18),
// blocks=N (dwpw). E.g. "mobilenet_v1:alpha=0.5,input=3x224x224",
// "sicknet:input=3x64x64,classes=3", "dwpw:input=16x28x28". A key given twice, an unknown key or
// a bad value (NaN, out of range) is an Error naming the spec and the key.
struct ModelSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> keys;  // as given, values checked
  const std::string* find(const std::string& key) const;
};
ModelSpec parse_model_spec(const std::string& spec);
std::string model_spec_help();  // the syntax, for --help

// Builds a spec. `input` and `classes` are what the data set gives (tools/train); a spec's own
// input= / classes= must then agree. Without them (benchmarks), each model's own defaults:
// sicknet 1x28x28 and 10 classes, mobilenet_v1 3x224x224 and 1000, dwpw needs input=.
// mobilenet_v1's alpha defaults to 0.5 and small to 1 below 64 px (the Fashion-MNIST variant).
Model build_model_spec(const std::string& spec, const Shape& input = Shape(), int classes = 0);
Model build_model_by_name(const std::string& spec, int channels, int height, int width, int classes);

}  // namespace trim
