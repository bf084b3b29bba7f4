// Filter ranking criteria (pruning/criterion.h): Mean Weight vs L1 (same order inside a layer,
// different choices under one threshold across layers), the baselines' definitions, the registry.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "framework/layers/conv2d.h"
#include "framework/layers/linear.h"
#include "pruning/criterion.h"
#include "pruning/policy.h"
#include "tests/test_prune_fixtures.h"

namespace trim {
namespace {

using namespace prune_test;

// Every weight of a source layer gets a magnitude from U(lo, hi) with a random sign.
void set_magnitudes(Model& m, const std::string& layer, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::bernoulli_distribution neg(0.5);
  Layer* l = m.find(layer);
  Tensor* w = nullptr;
  if (auto* c = dynamic_cast<Conv2d*>(l)) w = &c->weight;
  if (auto* li = dynamic_cast<Linear*>(l)) w = &li->weight;
  ASSERT_NE(w, nullptr);
  for (float& v : *w) v = neg(rng) ? -u(rng) : u(rng);
}

TEST(PruneCriteria, MeanWeightAndL1RankIdenticallyInsideALayer) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  randomize(m, 3);
  GroupAnalysis a = analyze_groups(m);
  auto mw = make_criterion("mean_weight"), l1 = make_criterion("l1");
  for (const auto& g : a.groups) {
    auto s1 = mw->scores(m, g), s2 = l1->scores(m, g);
    ASSERT_EQ(s1.size(), static_cast<size_t>(g.channels));
    EXPECT_EQ(lowest_scores(s1, g.channels), lowest_scores(s2, g.channels)) << g.name;
    // And the definition: L1 = mean * filter size.
    FilterWeights w = source_filters(m, g);
    for (int f = 0; f < g.channels; ++f) EXPECT_NEAR(s2[static_cast<size_t>(f)], s1[static_cast<size_t>(f)] * w.size, 1e-9);
  }
}

TEST(PruneCriteria, MeanWeightAndL1DifferUnderAGlobalThreshold) {
  // c1 has 9 weights per filter, c2 has 54. Make c1's weights larger (0.5..1) than c2's
  // (0.2..0.4): by mean c2 is the weaker layer, by L1 (sum over 6x more weights) c1 is.
  Model m = model_from_desc(vgg_desc(), "vgg");
  randomize(m, 4);
  set_magnitudes(m, "c1", 0.5f, 1.0f, 1);
  set_magnitudes(m, "c2", 0.2f, 0.4f, 2);
  set_magnitudes(m, "fc1", 0.3f, 0.45f, 3);
  GroupAnalysis a = analyze_groups(m);
  RatioLimits lim;
  lim.min_channels = 1;
  lim.max_ratio = 0.95;
  auto mw = make_criterion("mean_weight"), l1 = make_criterion("l1");
  auto by_mean = choose_global(m, a, *mw, 0.2, lim);
  auto by_l1 = choose_global(m, a, *l1, 0.2, lim);
  // 26 channels in all, 20%: 5 go. Mean Weight takes them from c2, L1 from c1.
  auto removed = [](const std::vector<LayerChoice>& v, const std::string& name) {
    for (const auto& c : v)
      if (c.layer == name) return c.channels_before - c.channels_after;
    return -1;
  };
  EXPECT_EQ(removed(by_mean, "c1"), 0);
  EXPECT_EQ(removed(by_mean, "c2"), 5);
  EXPECT_EQ(removed(by_l1, "c1"), 5);
  EXPECT_EQ(removed(by_l1, "c2"), 0);
}

TEST(PruneCriteria, L2BnGammaMeanSignedDefinitions) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  randomize(m, 5);
  GroupAnalysis a = analyze_groups(m);
  const ChannelGroup& c1 = *a.find("c1");
  auto* conv = dynamic_cast<Conv2d*>(m.find("c1"));
  // Filter 2 of c1: all weights -0.1 (mean_signed lowest), filter 4: large positive.
  for (int i = 0; i < 9; ++i) {
    conv->weight[static_cast<size_t>(2 * 9 + i)] = -0.1f;
    conv->weight[static_cast<size_t>(4 * 9 + i)] = 2.0f;
  }
  auto l2 = make_criterion("l2")->scores(m, c1);
  EXPECT_NEAR(l2[2], std::sqrt(9 * 0.01), 1e-6);
  EXPECT_NEAR(l2[4], std::sqrt(9 * 4.0), 1e-5);
  auto ms = make_criterion("mean_signed")->scores(m, c1);
  EXPECT_NEAR(ms[2], -0.1, 1e-6);
  EXPECT_NEAR(ms[4], 2.0, 1e-6);
  auto* bn = dynamic_cast<BatchNorm2d*>(m.find("bn1"));
  bn->gamma[3] = -0.01f;  // magnitude decides: the smallest |gamma|
  auto bg = make_criterion("bn_gamma")->scores(m, c1);
  EXPECT_NEAR(bg[3], 0.01, 1e-6);
  EXPECT_EQ(lowest_scores(bg, 1), std::vector<int>({3}));
  // fc1 has no BN: bn_gamma falls back to Mean Weight, and reports say so.
  const ChannelGroup& fc1 = *a.find("fc1");
  EXPECT_EQ(make_criterion("bn_gamma")->scores(m, fc1), make_criterion("mean_weight")->scores(m, fc1));
  EXPECT_EQ(criterion_label(*make_criterion("bn_gamma"), fc1), "mean_weight (no BN)");
}

TEST(PruneCriteria, RandomIsSeededAndReproducible) {
  Model m = model_from_desc(vgg_desc(), "vgg");
  GroupAnalysis a = analyze_groups(m);
  const ChannelGroup& g = *a.find("fc1");
  auto s1 = make_criterion("random", 7)->scores(m, g), s2 = make_criterion("random", 7)->scores(m, g);
  auto s3 = make_criterion("random", 8)->scores(m, g);
  EXPECT_EQ(s1, s2);
  EXPECT_NE(s1, s3);
}

TEST(PruneCriteria, RegistryListsAndRejects) {
  auto names = criterion_names();
  for (const char* n : {"mean_weight", "l1", "l2", "random", "bn_gamma", "mean_signed"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
    EXPECT_EQ(make_criterion(n)->name(), n);
  }
  try {
    make_criterion("taylor");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mean_weight"), std::string::npos) << e.what();
  }
}

TEST(PruneCriteria, LowestScoresBreaksTiesByIndex) {
  EXPECT_EQ(lowest_scores({3, 1, 2, 1, 0}, 3), std::vector<int>({4, 1, 3}));
  EXPECT_EQ(lowest_scores({3, 1}, 5), std::vector<int>({1, 0}));
  EXPECT_TRUE(lowest_scores({3, 1}, 0).empty());
}

}  // namespace
}  // namespace trim
