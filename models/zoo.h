// zoo.h - builders for the networks trim ships. Each builder writes a text model description
// (the same format as NAME.model files) and parses it, so a built-in model and a model file are
// the same thing. models/*.model hold the descriptions for Fashion-MNIST.
#pragma once

#include <string>

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

// "mobilenet_v2" and "resnet18" with their options (args: "alpha=0.5,small=1"; "width=32");
// *known = false for other names. Inputs below 64 px get the small-input variants.
Model build_graph_model_by_name(const std::string& name, const std::string& args, int channels, int height, int width,
                                int classes, bool* known);

// By name, for the tools: "sicknet", "mobilenet_v1" (options from the string
// "mobilenet_v1:alpha=0.5,small=1" too). Unknown name: Error listing the known ones.
Model build_model_by_name(const std::string& spec, int channels, int height, int width, int classes);

}  // namespace trim
