// The pretrained models shipped in models/pretrained load and keep the accuracy the README
// claims on the held-out Fashion-MNIST test split (a regression check of model loading, the
// eval path and the layers' numerics together).
#include <gtest/gtest.h>

#include "datasets/data_spec.h"
#include "datasets/idx.h"
#include "framework/evaluate.h"
#include "framework/model_file.h"

namespace trim {
namespace {

double test_accuracy(const std::string& name) {
  Model m = load_model(std::string(TRIM_SOURCE_DIR) + "/models/pretrained/" + name + ".model");
  auto test = load_fashion_mnist(kFashionMnistDir, false);
  EXPECT_EQ(m.class_names, test->class_names());
  auto src = make_batcher(test, 250, false, 1, 2);
  return evaluate(m, *src, 0).top1;
}

TEST(Pretrained, SickNetFashionMnist) {
  // README: 93.19% when trained; the bar is 92.0%.
  EXPECT_NEAR(test_accuracy("sicknet_fmnist"), 0.9319, 0.0005);
}

TEST(Pretrained, MobileNetV1HalfSmallFashionMnist) {
  // README: 91.70% when trained; the bar is 91.0%.
  EXPECT_NEAR(test_accuracy("mobilenet_v1_0.5_28_fmnist"), 0.9170, 0.0005);
}

}  // namespace
}  // namespace trim
