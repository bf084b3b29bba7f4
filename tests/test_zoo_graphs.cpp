// The zoo's graph networks (models/zoo_graphs.cpp): sizes against the papers, the small-input
// variants, shortcuts where the architectures put them, one training step, the coupled groups.
#include <gtest/gtest.h>

#include "framework/model_file.h"
#include "models/zoo.h"
#include "pruning/dependency.h"
#include "tests/test_prune_fixtures.h"

namespace trim {
namespace {

int count_type(const Model& m, const std::string& type) {
  int n = 0;
  for (const auto& l : m.layers) n += l->type() == type;
  return n;
}

TEST(ZooGraphs, MobileNetV2MatchesThePaper) {
  MobileNetV2Options o;  // 1.0 / 224, 1000 classes
  Model m = build_mobilenet_v2(o);
  // Sandler et al. 2018, table 3: 3.4 M parameters, 300 M multiply-adds.
  EXPECT_NEAR(static_cast<double>(m.num_params()), 3.5e6, 0.1e6);
  EXPECT_NEAR(static_cast<double>(m.macs()), 300e6, 10e6);
  EXPECT_EQ(count_type(m, "add"), 10);  // 17 bottlenecks, 10 with stride 1 and equal channels
  EXPECT_EQ(m.find("conv_last")->in_shape(), (Shape{320, 7, 7}));
  EXPECT_FALSE(m.is_chain());
  // The description round-trips through a file.
  EXPECT_EQ(model_to_desc(model_from_desc(model_to_desc(m), "v2.model")), model_to_desc(m));
}

TEST(ZooGraphs, MobileNetV2SmallInputAndWidth) {
  Model m = build_model_by_name("mobilenet_v2", 1, 28, 28, 10);
  EXPECT_EQ(m.find("conv1")->out_shape(), (Shape{32, 28, 28}));  // the stem stride is dropped
  EXPECT_EQ(m.find("conv_last")->in_shape(), (Shape{320, 2, 2}));
  Model half = build_model_by_name("mobilenet_v2:alpha=0.5", 1, 28, 28, 10);
  EXPECT_EQ(half.find("conv1")->out_shape()[0], 16);
  EXPECT_EQ(half.find("b2_project")->out_shape()[0], 16);  // 24 * 0.5 = 12 -> 16 (multiple of 8)
  EXPECT_LT(half.macs(), m.macs());
  EXPECT_THROW(build_model_by_name("mobilenet_v2:beta=1", 1, 28, 28, 10), Error);
  EXPECT_THROW(build_model_by_name("mobilenet_v2:alpha=x", 1, 28, 28, 10), Error);
}

TEST(ZooGraphs, ResNet18MatchesThePaper) {
  ResNet18Options o;
  Model m = build_resnet18(o);
  // He et al. 2016, table 1: 1.8 G FLOPs (multiply-adds); 11.7 M parameters.
  EXPECT_NEAR(static_cast<double>(m.num_params()), 11.7e6, 0.1e6);
  EXPECT_NEAR(static_cast<double>(m.macs()), 1.82e9, 0.05e9);
  EXPECT_EQ(count_type(m, "add"), 8);
  EXPECT_NE(m.find("s2b1_sc"), nullptr);  // projection shortcuts at the stage changes only
  EXPECT_EQ(m.find("s1b1_sc"), nullptr);
  EXPECT_EQ(m.find("s2b2_sc"), nullptr);
  EXPECT_EQ(m.find("fc")->in_shape(), (Shape{512, 1, 1}));
  EXPECT_EQ(m.find("s4b2_add")->out_shape(), (Shape{512, 7, 7}));
}

TEST(ZooGraphs, ResNet18SmallInput) {
  Model m = build_model_by_name("resnet18:width=16", 1, 28, 28, 10);
  EXPECT_EQ(m.find("conv1")->out_shape(), (Shape{16, 28, 28}));
  EXPECT_EQ(m.find("pool1"), nullptr);
  EXPECT_EQ(m.find("s4b2_add")->out_shape(), (Shape{128, 4, 4}));
  EXPECT_THROW(build_model_by_name("resnet18:width=2", 1, 28, 28, 10), Error);
}

TEST(ZooGraphs, SmallVariantsTrainOneStep) {
  for (const char* spec : {"mobilenet_v2:alpha=0.25", "resnet18:width=8"}) {
    Model m = build_model_by_name(spec, 1, 28, 28, 10);
    m.init_params(1);
    Tensor x = prune_test::random_input(m, 2, 3);
    Workspace ws;
    Context ctx;
    ctx.mode = Mode::Train;
    ctx.workspace = &ws;
    const Tensor& y = m.forward(x, ctx);
    ASSERT_EQ(y.shape(), (Shape{2, 10, 1, 1})) << spec;
    Tensor dy(y.shape());
    dy.fill(0.1f);
    m.zero_grad();
    m.backward(dy, ctx);
    double g = 0;
    for (float v : m.grad_block()) g += std::fabs(v);
    EXPECT_GT(g, 0) << spec;
  }
}

TEST(ZooGraphs, ResNet18GroupsFollowTheStages) {
  Model m = build_model_by_name("resnet18:width=8", 1, 28, 28, 10);
  GroupAnalysis a = analyze_groups(m);
  // Stage 1: the stem and both blocks' second convs add into one stream.
  const ChannelGroup* s1 = a.find("conv1");
  ASSERT_NE(s1, nullptr);
  std::vector<std::string> names;
  for (int i : s1->sources) names.push_back(m.layers[static_cast<size_t>(i)]->name());
  EXPECT_EQ(names, (std::vector<std::string>{"conv1", "s1b1_c2", "s1b2_c2"}));
  // Stage 2: the first block's second conv, its projection and the second block's second conv.
  const ChannelGroup* s2 = a.find("s2b1_c2");
  ASSERT_NE(s2, nullptr);
  names.clear();
  for (int i : s2->sources) names.push_back(m.layers[static_cast<size_t>(i)]->name());
  EXPECT_EQ(names, (std::vector<std::string>{"s2b1_c2", "s2b1_sc", "s2b2_c2"}));
  // Each block's first conv is a group of its own.
  EXPECT_NE(a.find("s3b2_c1"), nullptr);
  EXPECT_EQ(a.groups.size(), 4u + 8u);  // 4 stage streams, 8 inner convs (fc is the classifier)
}

}  // namespace
}  // namespace trim
