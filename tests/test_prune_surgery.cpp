// Dependency analysis and structured surgery (pruning/dependency.h, pruning/surgery.h) on tiny
// models built from text descriptions: the groups found, outputs unchanged when the removed
// channels contribute nothing, consistent shapes after arbitrary pruning (save, load, train,
// evaluate), and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "datasets/data_spec.h"
#include "framework/engine/engine.h"
#include "framework/evaluate.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/linear.h"
#include "framework/model_file.h"
#include "framework/trainer.h"
#include "pruning/dependency.h"
#include "pruning/surgery.h"
#include "tests/test_prune_fixtures.h"

namespace trim {
namespace {

using namespace prune_test;

std::vector<std::string> names_of(const Model& m, const std::vector<int>& idx) {
  std::vector<std::string> v;
  for (int i : idx) v.push_back(m.layers[static_cast<size_t>(i)]->name());
  return v;
}

TEST(PruneDependency, FindsConvFlattenAndHiddenLinearGroups) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  GroupAnalysis a = analyze_groups(m);
  ASSERT_EQ(a.groups.size(), 3u);
  EXPECT_EQ(a.groups[0].name, "c1");
  EXPECT_EQ(names_of(m, a.groups[0].followers), std::vector<std::string>({"bn1"}));
  EXPECT_EQ(m.layers[static_cast<size_t>(a.groups[0].consumer)]->name(), "c2");
  EXPECT_EQ(a.groups[0].spatial, 1);
  EXPECT_EQ(a.groups[1].name, "c2");
  EXPECT_EQ(m.layers[static_cast<size_t>(a.groups[1].consumer)]->name(), "fc1");
  EXPECT_EQ(a.groups[1].spatial, 4);  // 8x8 -> pool -> 4x4 -> pool -> 2x2 per channel
  EXPECT_EQ(a.groups[2].name, "fc1");
  EXPECT_EQ(m.layers[static_cast<size_t>(a.groups[2].consumer)]->name(), "fc2");
  EXPECT_EQ(a.groups[2].bn, -1);
  ASSERT_EQ(a.notes.size(), 1u);  // the classifier
  EXPECT_NE(a.notes[0].find("fc2"), std::string::npos) << a.notes[0];
}

TEST(PruneDependency, CarriesChannelsThroughDepthwiseConvs) {
  Model m = model_from_desc(mobile_desc(), "mobile");
  GroupAnalysis a = analyze_groups(m);
  ASSERT_EQ(a.groups.size(), 3u);
  EXPECT_EQ(a.groups[0].name, "stem");
  EXPECT_EQ(names_of(m, a.groups[0].followers), std::vector<std::string>({"stem_bn", "dw1", "dw1_bn"}));
  EXPECT_EQ(m.layers[static_cast<size_t>(a.groups[0].consumer)]->name(), "pw1");
  EXPECT_EQ(a.groups[1].name, "pw1");
  EXPECT_EQ(names_of(m, a.groups[1].followers), std::vector<std::string>({"pw1_bn", "dw2", "dw2_bn"}));
  EXPECT_EQ(a.groups[2].name, "pw2");
  EXPECT_EQ(m.layers[static_cast<size_t>(a.groups[2].consumer)]->name(), "fc");
  EXPECT_EQ(a.groups[2].spatial, 1);  // global pooling leaves one input per channel
  // Depthwise convs are carried, never sources.
  EXPECT_EQ(a.find("dw1"), nullptr);
}

TEST(PruneDependency, GroupedConvStopsAGroup) {
  Model m = model_from_desc(
      "[input]\nchannels=1\nheight=4\nwidth=4\n[conv]\nname=a\nfilters=4\nsize=1\n"
      "[conv]\nname=g\nfilters=4\nsize=1\ngroups=2\n[flatten]\n[linear]\nname=out\nout=2\n",
      "grouped");
  GroupAnalysis a = analyze_groups(m);
  EXPECT_EQ(a.find("a"), nullptr);
  bool named = false;
  for (const auto& n : a.notes) named = named || n.find("grouped conv 'g'") != std::string::npos;
  EXPECT_TRUE(named);
}

// Makes channels `dead` of every group contribute nothing: zero filter weights and bias, and a
// zero BN shift (beta and running mean) in the group's BNs, so their outputs are exactly zero.
void kill_channels(Model& m, const GroupAnalysis& a, const ChannelRemoval& dead) {
  for (const auto& kv : dead) {
    const ChannelGroup* g = a.find(kv.first);
    ASSERT_NE(g, nullptr);
    std::vector<int> layers = g->followers;
    layers.insert(layers.begin(), g->source);
    for (int li : layers) {
      Layer* l = m.layers[static_cast<size_t>(li)].get();
      for (int f : kv.second) {
        if (auto* c = dynamic_cast<Conv2d*>(l)) {
          const size_t per = c->weight.numel() / static_cast<size_t>(c->out_channels);
          std::fill(c->weight.data() + f * per, c->weight.data() + (f + 1) * per, 0.f);
          if (c->has_bias) c->bias[static_cast<size_t>(f)] = 0.f;
        } else if (auto* lin = dynamic_cast<Linear*>(l)) {
          const size_t per = static_cast<size_t>(lin->in_features);
          std::fill(lin->weight.data() + f * per, lin->weight.data() + (f + 1) * per, 0.f);
          if (lin->has_bias) lin->bias[static_cast<size_t>(f)] = 0.f;
        } else if (auto* bn = dynamic_cast<BatchNorm2d*>(l)) {
          bn->beta[static_cast<size_t>(f)] = 0.f;
          bn->running_mean[static_cast<size_t>(f)] = 0.f;
        }
      }
    }
  }
}

void expect_same_outputs(Model& a, Model& b, uint64_t seed) {
  Tensor x = random_input(a, 5, seed);
  Tensor ya = eval_forward(a, x), yb = eval_forward(b, x);
  ASSERT_EQ(ya.shape(), yb.shape());
  double max_abs = 0;
  for (float v : ya) max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
  ASSERT_GT(max_abs, 1e-3);  // the check means something only when outputs are not all zero
  for (size_t i = 0; i < ya.numel(); ++i) EXPECT_NEAR(ya[i], yb[i], 1e-4 * (1 + std::fabs(ya[i]))) << "output " << i;
}

TEST(PruneSurgery, DeadChannelsLeaveOutputsUnchangedVgg) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  randomize(m, 11);
  GroupAnalysis a = analyze_groups(m);
  ChannelRemoval dead = {{"c1", {0, 4}}, {"c2", {1, 5, 7}}, {"fc1", {2, 3, 11}}};
  kill_channels(m, a, dead);
  Model p = prune_channels(m, dead);
  EXPECT_EQ(p.layers[0]->out_shape()[0], 4);
  EXPECT_EQ(dynamic_cast<Linear*>(p.find("fc1"))->in_features, 5 * 4);
  EXPECT_EQ(dynamic_cast<Linear*>(p.find("fc1"))->out_features, 9);
  EXPECT_EQ(p.classes(), 3);
  EXPECT_LT(p.macs(), m.macs());
  expect_same_outputs(m, p, 3);
}

TEST(PruneSurgery, DeadChannelsLeaveOutputsUnchangedThroughDepthwise) {
  Model m = model_from_desc(mobile_desc(), "mobile");
  randomize(m, 12);
  GroupAnalysis a = analyze_groups(m);
  ChannelRemoval dead = {{"stem", {1, 2, 6}}, {"pw1", {0, 11}}, {"pw2", {3, 4, 5, 15}}};
  kill_channels(m, a, dead);
  Model p = prune_channels(m, dead);
  auto* dw1 = dynamic_cast<Conv2d*>(p.find("dw1"));
  ASSERT_NE(dw1, nullptr);
  EXPECT_EQ(dw1->groups, 5);  // groups shrink with the channels
  EXPECT_EQ(dw1->out_channels, 5);
  EXPECT_EQ(dynamic_cast<Conv2d*>(p.find("dw2"))->groups, 10);
  EXPECT_EQ(dynamic_cast<Conv2d*>(p.find("pw1"))->in_channels, 5);
  EXPECT_EQ(dynamic_cast<Linear*>(p.find("fc"))->in_features, 12);
  EXPECT_EQ(p.classes(), 4);  // the classifier's outputs are untouched
  expect_same_outputs(m, p, 4);
}

TEST(PruneSurgery, LiveChannelsDoChangeOutputs) {
  // The converse: removing channels that do contribute must change the outputs, otherwise the
  // equality tests above would pass for a surgery that ignored its input.
  Model m = model_from_desc(vgg_desc(), "vgg");
  randomize(m, 13);
  Model p = prune_channels(m, {{"c2", {1, 5}}});
  Tensor x = random_input(m, 4, 9);
  Tensor ya = eval_forward(m, x), yb = eval_forward(p, x);
  double diff = 0;
  for (size_t i = 0; i < ya.numel(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(ya[i] - yb[i])));
  EXPECT_GT(diff, 1e-3);
}

TEST(PruneSurgery, DoesNotModifyItsInput) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  randomize(m, 14);
  const std::string before = serialize_weights(m);
  Model p = prune_channels(m, {{"c1", {0}}});
  EXPECT_EQ(serialize_weights(m), before);
  EXPECT_EQ(m.layers[0]->out_shape()[0], 6);
}

TEST(PruneSurgery, RefusesTheLastChannelAndNamesTheLayer) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  try {
    prune_channels(m, {{"c1", {0, 1, 2, 3, 4, 5}}});
    FAIL() << "pruning every channel was accepted";
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("'c1'"), std::string::npos) << w;
    EXPECT_NE(w.find("min_channels"), std::string::npos) << w;
  }
  try {
    prune_channels(m, {{"c2", {0, 1, 2, 3, 4}}}, 4);  // 3 would remain, 4 required
    FAIL() << "min_channels=4 was not enforced";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("min_channels=4"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(prune_channels(m, {{"c2", {0, 1, 2, 3}}}, 4));
}

TEST(PruneSurgery, RefusesClassifierAndBadIndices) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  EXPECT_THROW(prune_channels(m, {{"fc2", {0}}}), Error);  // class scores are never pruned
  EXPECT_THROW(prune_channels(m, {{"bn1", {0}}}), Error);
  EXPECT_THROW(prune_channels(m, {{"c1", {6}}}), Error);
  EXPECT_THROW(prune_channels(m, {{"c1", {-1}}}), Error);
  EXPECT_THROW(prune_channels(m, {{"c1", {2, 2}}}), Error);
}

TEST(PruneSurgery, ArbitraryPruningSavesLoadsTrainsAndEvaluates) {
  std::mt19937_64 rng(21);
  for (const std::string& desc : {vgg_desc(3), mobile_desc(3)}) {
    const bool vgg = desc.find("stem") == std::string::npos;
    Model m = model_from_desc(desc, "m");
    m.init_params(5);
    m.class_names = {"a", "b", "c"};
    // Two successive random prunings (the second works on the first's result).
    Model p = m.clone();
    for (int step = 0; step < 2; ++step) {
      GroupAnalysis a = analyze_groups(p);
      ChannelRemoval rm;
      for (const auto& g : a.groups) {
        std::vector<int> idx(static_cast<size_t>(g.channels));
        for (int i = 0; i < g.channels; ++i) idx[static_cast<size_t>(i)] = i;
        std::shuffle(idx.begin(), idx.end(), rng);
        const int n = static_cast<int>(rng() % static_cast<uint64_t>(g.channels));  // 0 .. channels-1
        idx.resize(static_cast<size_t>(n));
        if (n) rm[g.name] = idx;
      }
      p = prune_channels(p, rm);
    }
    EXPECT_LE(p.macs(), m.macs());
    EXPECT_EQ(p.classes(), 3);
    // Save and load: the same description, weights and class names, the same outputs.
    const std::string dir = temp_dir(vgg ? "surgery_vgg" : "surgery_mobile");
    save_model(p, dir + "/pruned.model");
    Model q = load_model(dir + "/pruned.model");
    EXPECT_EQ(model_to_desc(q), model_to_desc(p));
    EXPECT_EQ(q.class_names, p.class_names);
    Tensor x = random_input(p, 2, 1);
    Tensor yp = eval_forward(p, x), yq = eval_forward(q, x);
    for (size_t i = 0; i < yp.numel(); ++i) EXPECT_FLOAT_EQ(yp[i], yq[i]);
    // The deploy engine runs the odd channel counts pruning leaves and agrees with the model
    // (tolerance: the engine folds BN into the weights and sums in another order).
    InferenceEngine engine(q);
    const Tensor& ye = engine.run(x);
    ASSERT_EQ(ye.numel(), yq.numel());
    for (size_t i = 0; i < yq.numel(); ++i) EXPECT_NEAR(ye[i], yq[i], 1e-4 * (1 + std::fabs(yq[i]))) << i;
    // Train and evaluate the loaded model.
    auto ds = std::make_shared<SyntheticDataset>(96, q.input[0], 8, 3, 2);
    auto src = make_batcher(ds, 16, true, 1, 0);
    auto eval_src = make_batcher(ds, 32, false, 1, 0);
    TrainOptions t;
    t.schedule.epochs = 2;
    t.schedule.base_lr = 0.02f;
    t.progress = false;
    TrainResult r = train(q, *src, nullptr, t);
    ASSERT_EQ(r.epochs.size(), 2u);
    EXPECT_TRUE(std::isfinite(r.epochs.back().train_loss));
    EvalResult e = evaluate(q, *eval_src);
    EXPECT_EQ(e.samples, 96u);
    EXPECT_TRUE(std::isfinite(e.loss));
  }
}

}  // namespace
}  // namespace trim
