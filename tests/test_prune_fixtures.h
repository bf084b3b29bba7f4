// Shared by the tests/test_prune_*.cpp files: tiny models written as text descriptions (a
// VGG-like chain with flatten -> FC and a hidden FC, a MobileNet-like chain with depthwise convs
// and global pooling), random weights and BN statistics, and a tiny synthetic data set held in
// memory that a small CNN learns in a few epochs.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/model.h"
#include "framework/model_file.h"

namespace trim {
namespace prune_test {

// conv -> BN -> ReLU -> pool, conv -> BN -> ReLU -> pool, flatten -> FC -> ReLU -> dropout -> FC.
inline std::string vgg_desc(int classes = 3) {
  return "[input]\nchannels=1\nheight=8\nwidth=8\n"
         "[conv]\nname=c1\nfilters=6\nsize=3\npad=1\nbias=1\n[batchnorm]\nname=bn1\n[relu]\nname=r1\n"
         "[maxpool]\nname=p1\nsize=2\n"
         "[conv]\nname=c2\nfilters=8\nsize=3\npad=1\nbias=0\n[batchnorm]\nname=bn2\n[relu]\nname=r2\n"
         "[maxpool]\nname=p2\nsize=2\n"
         "[flatten]\nname=flat\n[linear]\nname=fc1\nout=12\n[relu]\nname=r3\n[dropout]\nname=drop\np=0.5\n"
         "[linear]\nname=fc2\nout=" +
         std::to_string(classes) + "\n";
}

// stem conv -> BN -> ReLU -> [dw -> BN -> ReLU -> pw -> BN -> ReLU] x 2 -> global pool -> FC.
inline std::string mobile_desc(int classes = 4) {
  return "[input]\nchannels=3\nheight=8\nwidth=8\n"
         "[conv]\nname=stem\nfilters=8\nsize=3\nstride=2\npad=1\nbias=0\n[batchnorm]\nname=stem_bn\n[relu]\nname=stem_relu\n"
         "[conv]\nname=dw1\nfilters=8\nsize=3\npad=1\ngroups=8\nbias=0\n[batchnorm]\nname=dw1_bn\n[relu]\nname=dw1_relu\n"
         "[conv]\nname=pw1\nfilters=12\nsize=1\nbias=0\n[batchnorm]\nname=pw1_bn\n[relu]\nname=pw1_relu\n"
         "[conv]\nname=dw2\nfilters=12\nsize=3\nstride=2\npad=1\ngroups=12\nbias=1\n[batchnorm]\nname=dw2_bn\n"
         "[relu6]\nname=dw2_relu\n"
         "[conv]\nname=pw2\nfilters=16\nsize=1\nbias=0\n[batchnorm]\nname=pw2_bn\n[relu]\nname=pw2_relu\n"
         "[globalavgpool]\nname=gap\n[flatten]\nname=flat\n[linear]\nname=fc\nout=" +
         std::to_string(classes) + "\n";
}

// Random weights, biases and BN parameters and statistics (running_var > 0), so every channel
// matters and a wrong slice anywhere changes the outputs.
inline void randomize(Model& m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, 0.5f);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  for (auto& p : m.params()) {
    auto ends = [&](const std::string& x) {
      return p.name.size() > x.size() && p.name.compare(p.name.size() - x.size(), x.size(), x) == 0;
    };
    const bool var = ends(".running_var"), gamma = ends(".gamma");
    for (float& v : *p.value) v = var || gamma ? u(rng) : n(rng);
  }
}

inline Tensor random_input(const Model& m, int batch, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  Tensor x(Shape{batch, m.input[0], m.input[1], m.input[2]});
  for (float& v : x) v = n(rng);
  return x;
}

inline Tensor eval_forward(Model& m, const Tensor& x) {
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Eval;
  ctx.workspace = &ws;
  return m.forward(x, ctx);
}

// Class c lights up one region of the image (a vertical band at column 2c..2c+1 for 1-channel
// inputs, one colour for 3 channels) on top of noise: easy for a small CNN, not trivially so.
class SyntheticDataset : public Dataset {
 public:
  SyntheticDataset(size_t n, int channels, int size, int classes, uint64_t seed)
      : n_(n), c_(channels), s_(size), k_(classes), seed_(seed) {}
  size_t size() const override { return n_; }
  Shape sample_shape() const override { return Shape{c_, s_, s_}; }
  int num_classes() const override { return k_; }
  std::vector<std::string> class_names() const override {
    std::vector<std::string> v;
    for (int i = 0; i < k_; ++i) v.push_back("class" + std::to_string(i));
    return v;
  }
  int label(size_t i) const override { return static_cast<int>((i * 7 + seed_) % static_cast<size_t>(k_)); }
  bool load(size_t i, float* out, bool augment, std::mt19937_64& rng) const override {
    (void)augment;
    (void)rng;
    std::mt19937_64 r(seed_ * 1000003u + i);
    std::normal_distribution<float> noise(0.f, 0.6f);
    const int y = label(i);
    for (int c = 0; c < c_; ++c)
      for (int h = 0; h < s_; ++h)
        for (int w = 0; w < s_; ++w) {
          float v = noise(r);
          const bool on = c_ == 1 ? (w / 2 == y % (s_ / 2)) : (c == y % c_ && (h + w + y) % 2 == 0);
          if (on) v += 1.5f;
          out[(static_cast<size_t>(c) * s_ + h) * s_ + w] = v;
        }
    return true;
  }
  std::string describe() const override { return "synthetic (" + std::to_string(n_) + " images)"; }

 private:
  size_t n_;
  int c_, s_, k_;
  uint64_t seed_;
};

// A fresh temporary folder under the build tree (removed and recreated).
inline std::string temp_dir(const std::string& name) {
  const std::string d = std::string(TRIM_BINARY_DIR) + "/test-tmp/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace prune_test
}  // namespace trim
