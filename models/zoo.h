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

// By name, for the tools: "sicknet", "mobilenet_v1" (options from the string
// "mobilenet_v1:alpha=0.5,small=1" too). Unknown name: Error listing the known ones.
Model build_model_by_name(const std::string& spec, int channels, int height, int width, int classes);

}  // namespace trim
