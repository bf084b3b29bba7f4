// Regression check of the models shipped in models/pretrained and models/pruned: they still
// load, and the eval path and the layers' numerics together still give the test accuracy and
// MACs recorded when they were made. The expected figures are NOT derived here: they are
// copied from those runs' own records: the dense models' test accuracy from README.md "Results"
// (measured by ./tools/eval at the end of training; models/pretrained/<name>.log.csv holds the
// validation figures of the same runs), the pruned models' from their pruning runs'
// models/pruned/<name>.report/report.json ("dense" and "final" test_acc and macs). So this test
// says "nothing changed since", not "the numbers are right" (the forward pass is checked against
// independent code in test_layers_* and test_engine). Tolerance 0.0005: 5 of the 10,000 test
// images (1 of the 3,000 for the 3-class model), room for a summation-order change in a
// kernel, not for a bug.
//
// Needs the Fashion-MNIST test split (Debian package dataset-fashion-mnist, `make deps`); without
// it the tests are skipped and say so, instead of failing on a missing file.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "datasets/data_spec.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "framework/evaluate.h"
#include "framework/model_file.h"

namespace trim {
namespace {

// "" when the Fashion-MNIST test split is installed, else why not.
std::string fashion_mnist_missing() {
  for (const char* f : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
    const std::string path = std::string(kFashionMnistDir) + "/" + f;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      return path + " not found: install the Debian package dataset-fashion-mnist (make deps) to run this check";
  }
  return "";
}

class Pretrained : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = fashion_mnist_missing();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};
using Pruned = Pretrained;

// Top-1 on the Fashion-MNIST test split of models/<path>.model (only `classes`, relabelled
// 0..k-1, when given: the 3-class models).
double test_accuracy(const std::string& path, const std::vector<int>& classes = {}) {
  Model m = load_model(std::string(TRIM_SOURCE_DIR) + "/models/" + path + ".model");
  std::shared_ptr<const Dataset> test = load_fashion_mnist(kFashionMnistDir, false);
  if (!classes.empty()) test = select_classes(test, classes);
  EXPECT_EQ(m.class_names, test->class_names());
  auto src = make_batcher(test, 250, false, 1, 2);
  return evaluate(m, *src, 0).top1;
}

int64_t macs_of(const std::string& path) {
  return load_model(std::string(TRIM_SOURCE_DIR) + "/models/" + path + ".model").macs();
}

TEST_F(Pretrained, SickNetFashionMnist) {
  // Recorded: 93.19% at the end of training (README "Results"); the bar was 92.0%.
  EXPECT_NEAR(test_accuracy("pretrained/sicknet_fmnist"), 0.9319, 0.0005);
}

TEST_F(Pretrained, MobileNetV1HalfSmallFashionMnist) {
  // Recorded: 91.70% at the end of training (README "Results"); the bar was 91.0%.
  EXPECT_NEAR(test_accuracy("pretrained/mobilenet_v1_0.5_28_fmnist"), 0.9170, 0.0005);
}

// The pruned models of models/pruned: test accuracy and MACs as their pruning runs recorded them
// (<name>.report/report.json, "final"; README and docs/pruning.md quote the same figures), and the
// dense models' MACs they were cut from.
TEST_F(Pruned, SickNetFashionMnist) {
  EXPECT_NEAR(test_accuracy("pruned/sicknet_fmnist_pruned"), 0.9276, 0.0005);
  EXPECT_EQ(macs_of("pruned/sicknet_fmnist_pruned"), 7113680);
  EXPECT_EQ(macs_of("pretrained/sicknet_fmnist"), 29424640);
}

TEST_F(Pruned, SickNetFashionMnistThreeClasses) {
  // T-shirt/top, Pullover, Shirt; its dense model (not shipped) had 89.03% and 29,422,848 MACs.
  EXPECT_NEAR(test_accuracy("pruned/sicknet_fmnist3_pruned", {0, 2, 6}), 0.8827, 0.0005);
  EXPECT_EQ(macs_of("pruned/sicknet_fmnist3_pruned"), 1608924);
}

TEST_F(Pruned, MobileNetV1HalfSmallFashionMnist) {
  EXPECT_NEAR(test_accuracy("pruned/mobilenet_v1_0.5_28_fmnist_pruned"), 0.9178, 0.0005);
  EXPECT_EQ(macs_of("pruned/mobilenet_v1_0.5_28_fmnist_pruned"), 3838360);
  EXPECT_EQ(macs_of("pretrained/mobilenet_v1_0.5_28_fmnist"), 10865216);
}

}  // namespace
}  // namespace trim
