// PyTorch -> ONNX -> trim: tests/onnx/make_models.py builds trim's SICK-Net and MobileNet V1
// variants in PyTorch with random weights and BN statistics, exports them with torch.onnx.export
// (opsets 13 and 17; 10 for Clip's attribute form) and writes PyTorch's logits on a fixed batch.
// trim imports each file; its description must be the builtin network's, and both of trim's
// forward paths (the inference engine and the training forward) must give PyTorch's logits.
//
// Tolerance: 1e-5 of the largest logit (the largest |difference| over the largest |logit|).
// Both sides compute in float32 but in different orders: the engine folds BN into the
// convolution weights and blocks its GEMMs unlike PyTorch's oneDNN; each layer adds a few
// roundings of ~6e-8 relative, growing with the fan-in's square root. Measured worst case
// 8.4e-7 (SICK-Net, engine; docs/onnx.md has every figure), so 1e-5 leaves a 12x margin on
// another CPU's kernels. An importer that swaps BN's mean and variance, drops a bias or misreads
// a pad is off by 1e-2 or more.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "framework/layers/dropout.h"
#include "framework/model_file.h"
#include "models/zoo.h"
#include "tests/onnx_fixtures.h"
#include "tests/temp_dir.h"
#ifdef TRIM_HAVE_ONNX
#include "interop/onnx_import.h"
#endif

namespace trim {
namespace {

#ifdef TRIM_HAVE_ONNX
using namespace onnx_test;

constexpr double kTolerance = 1e-5;

class OnnxFromTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    python_ = torch_python();
    if (python_.empty()) return;
    dir_ = new TempDir();
    const std::string cmd = "OPENBLAS_NUM_THREADS=1 " + python_ + " '" + std::string(TRIM_SOURCE_DIR) +
                            "/tests/onnx/make_models.py' '" + dir_->path() + "' > '" + dir_->path() + "/make.log' 2>&1";
    made_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (python_.empty()) GTEST_SKIP() << "/usr/bin/python3 with torch not found (Debian python3-torch; make deps installs it)";
    ASSERT_TRUE(made_) << "tests/onnx/make_models.py failed: see its log in " << dir_->path();
  }

  // Imports NAME.opsetN.onnx for every opset and compares the logits of both forward paths with
  // PyTorch's; returns the imported model (of the last opset).
  Model check(const std::string& name, std::vector<int> opsets) {
    const std::string base = dir_->path() + "/" + name;
    int n = 0, c = 0, h = 0, w = 0, k = 0;
    std::ifstream(base + ".shape") >> n >> c >> h >> w >> k;
    EXPECT_GT(n, 0);
    Tensor x(Shape{n, c, h, w});
    const std::vector<float> in = read_floats(base + ".input.bin"), want = read_floats(base + ".logits.bin");
    EXPECT_EQ(in.size(), x.numel());
    EXPECT_EQ(want.size(), static_cast<size_t>(n * k));
    std::copy(in.begin(), in.end(), x.data());
    Model last;
    for (int opset : opsets) {
      const std::string file = base + ".opset" + std::to_string(opset) + ".onnx";
      Model m = import_onnx(file);
      EXPECT_EQ(m.classes(), k);
      const double e_engine = rel_error(engine_logits(m, x), want);
      const double e_train = rel_error(training_logits(m, x), want);
      std::printf("%-32s opset %d: engine %.2e, training forward %.2e of the largest logit\n", name.c_str(), opset,
                  e_engine, e_train);
      EXPECT_LE(e_engine, kTolerance) << file << ": the engine's logits differ from PyTorch's";
      EXPECT_LE(e_train, kTolerance) << file << ": the training forward's logits differ from PyTorch's";
      last = std::move(m);
    }
    return last;
  }

  static std::string python_;
  static TempDir* dir_;
  static bool made_;
};
std::string OnnxFromTorch::python_;
TempDir* OnnxFromTorch::dir_ = nullptr;
bool OnnxFromTorch::made_ = false;

// The imported description, layer for layer, is trim's builtin one (names included: the torch
// modules carry trim's layer names). torch.onnx.export drops Dropout in eval mode, and the
// random BN epsilons (1e-3 on some layers) are compared by the logits instead.
void expect_same_network(const Model& imported, const Model& builtin) {
  std::vector<const Layer*> want;
  for (const auto& l : builtin.layers)
    if (l->type() != "dropout") want.push_back(l.get());
  ASSERT_EQ(imported.layers.size(), want.size());
  EXPECT_EQ(imported.input, builtin.input);
  for (size_t i = 0; i < want.size(); ++i) {
    const Layer& a = *imported.layers[i];
    const Layer& b = *want[i];
    EXPECT_EQ(a.name(), b.name()) << "layer " << i;
    EXPECT_EQ(a.type(), b.type()) << "layer " << i << " " << b.name();
    EXPECT_EQ(a.out_shape(), b.out_shape()) << "layer " << b.name();
    LayerDesc da, db;
    a.write_desc(da);
    b.write_desc(db);
    if (a.type() != "batchnorm") {
      EXPECT_EQ(da.kv, db.kv) << "layer " << b.name();
    } else {
      EXPECT_EQ(da.get("momentum", ""), db.get("momentum", "")) << "layer " << b.name();
    }
  }
}

TEST_F(OnnxFromTorch, SickNet) {
  Model m = check("sicknet", {13, 17});
  expect_same_network(m, build_sicknet(1, 28, 28, 10));
}

TEST_F(OnnxFromTorch, SickNetWithBatchNormFoldedByTheExporter) {
  Model m = check("sicknet_folded", {13});
  // TrainingMode.EVAL folds every BN into its convolution: six convolutions with a bias, no BN.
  int convs = 0, bns = 0;
  for (const auto& l : m.layers) {
    convs += l->type() == "conv";
    bns += l->type() == "batchnorm";
  }
  EXPECT_EQ(convs, 6);
  EXPECT_EQ(bns, 0);
}

TEST_F(OnnxFromTorch, MobileNetV1SmallInput) {
  Model m = check("mobilenet_v1_0.5_28", {13, 17});
  MobileNetV1Options o;
  o.alpha = 0.5f;
  o.resolution = 28;
  o.channels = 1;
  o.classes = 10;
  o.small_input = true;
  expect_same_network(m, build_mobilenet_v1(o));
}

TEST_F(OnnxFromTorch, MobileNetV1_025_224) {
  Model m = check("mobilenet_v1_0.25_224", {13, 17});
  MobileNetV1Options o;
  o.alpha = 0.25f;
  expect_same_network(m, build_mobilenet_v1(o));
}

TEST_F(OnnxFromTorch, MobileNetV1_025_224_ReLU6) {
  Model m = check("mobilenet_v1_0.25_224_relu6", {13});
  MobileNetV1Options o;
  o.alpha = 0.25f;
  o.relu6 = true;
  expect_same_network(m, build_mobilenet_v1(o));
}

TEST_F(OnnxFromTorch, MobileNetV1_10_224) {
  Model m = check("mobilenet_v1_1.0_224", {13, 17});
  expect_same_network(m, build_mobilenet_v1(MobileNetV1Options{}));
}

// Clip with attributes (opset 10) and inputs (13, 17), padded average pooling, Reshape to
// [-1, F], MatMul + Add as one linear layer, Dropout.
TEST_F(OnnxFromTorch, MixedOps) {
  Model m = check("mixed", {10, 13, 17});
  std::vector<std::string> types;
  for (const auto& l : m.layers) types.push_back(l->type());
  EXPECT_EQ(types, (std::vector<std::string>{"conv", "batchnorm", "relu6", "avgpool", "conv", "relu", "maxpool",
                                             "flatten", "linear"}));
}

#else
TEST(OnnxFromTorch, NeedsOnnx) { GTEST_SKIP() << "built without ONNX (libonnx-dev not found at configure time)"; }
#endif

}  // namespace
}  // namespace trim
