// Sensitivity scan and ratio policies (pruning/sensitivity.h, pruning/policy.h): the scan measures
// exactly the model surgery would produce, dead channels cost nothing, T-sensitive picks the
// largest passing ratio, the limits (max_ratio, min_channels, round_to) and the MACs-matched
// baselines.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/layers/conv2d.h"
#include "pruning/policy.h"
#include "pruning/sensitivity.h"
#include "pruning/surgery.h"
#include "tests/test_prune_fixtures.h"

namespace trim {
namespace {

using namespace prune_test;

TEST(PrunePolicy, KeptChannelsAppliesTheLimitsInOrder) {
  RatioLimits lim;
  lim.max_ratio = 0.75;
  lim.min_channels = 8;
  lim.round_to = 1;
  EXPECT_EQ(kept_channels(64, 0.5, lim), 32);
  EXPECT_EQ(kept_channels(64, 0.0, lim), 64);
  std::string why;
  EXPECT_EQ(kept_channels(64, 0.9, lim, &why), 16);  // capped at 0.75
  EXPECT_NE(why.find("max_ratio"), std::string::npos);
  EXPECT_EQ(kept_channels(16, 0.7, lim, &why), 8);  // round(0.7*16)=11 removed -> 5 kept -> 8
  EXPECT_NE(why.find("min_channels"), std::string::npos);
  EXPECT_EQ(kept_channels(6, 0.5, lim), 6);  // a layer smaller than min_channels is left alone
  lim.round_to = 8;
  EXPECT_EQ(kept_channels(64, 0.6, lim, &why), 32);  // 38 removed -> 26 kept -> 32
  EXPECT_NE(why.find("multiple of 8"), std::string::npos);
  EXPECT_EQ(kept_channels(30, 0.1, lim), 30);  // rounding never exceeds the layer
  EXPECT_EQ(kept_channels(32, 0.2, lim), 32);  // 6 removed -> 26 kept -> up to 32: nothing pruned
  lim.round_nearest = true;
  EXPECT_EQ(kept_channels(32, 0.2, lim, &why), 24);  // 26 kept -> nearest multiple 24
  EXPECT_NE(why.find("rounded down"), std::string::npos);
  EXPECT_EQ(kept_channels(32, 0.1, lim), 32);  // 29 kept -> 32 (nearest is up)
  EXPECT_EQ(kept_channels(64, 0.6, lim), 24);  // 26 kept -> 24
  EXPECT_EQ(kept_channels(16, 0.7, lim), 8);   // never below min_channels
  lim.min_channels = 12;
  EXPECT_EQ(kept_channels(32, 0.6, lim), 16);  // 13 kept: 8 would pass min_channels, so up to 16
  lim.min_channels = 8;
  lim.round_nearest = false;
  lim.round_to = 1;
  lim.min_channels = 1;
  EXPECT_EQ(kept_channels(3, 0.5, lim), 1);  // round(1.5) = 2 removed
}

ScanResult fake_scan(std::vector<double> drops) {
  ScanResult s;
  s.criterion = "mean_weight";
  ScanCurve c;
  c.layer = "conv";
  c.channels = 40;
  for (size_t k = 0; k < drops.size(); ++k) {
    c.ratios.push_back(0.1 * static_cast<double>(k + 1));
    c.removed.push_back(channels_for_ratio(40, c.ratios.back()));
    c.acc.push_back(0.9 - drops[k] / 100);
    c.drop.push_back(drops[k]);
  }
  s.layers.push_back(c);
  return s;
}

TEST(PrunePolicy, TSensitiveTakesTheLargestPassingRatioNotTheFirstBreak) {
  RatioLimits lim;
  lim.min_channels = 1;
  // Drops: 0.1 passes, 0.2 breaks T=1, 0.3 passes again, 0.4 breaks: the choice is 0.3.
  auto ch = choose_t_sensitive(fake_scan({0.1, 2.0, 0.5, 3.0}), 1.0, lim);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_DOUBLE_EQ(ch[0].requested, 0.3);
  EXPECT_EQ(ch[0].channels_after, 28);
  EXPECT_NEAR(ch[0].achieved(), 0.3, 1e-12);
  // Nothing passes: 0.
  ch = choose_t_sensitive(fake_scan({1.5, 2.0}), 1.0, lim);
  EXPECT_DOUBLE_EQ(ch[0].requested, 0.0);
  EXPECT_EQ(ch[0].channels_after, 40);
  // A drop exactly at T passes (drop <= T).
  ch = choose_t_sensitive(fake_scan({0.2, 1.0, 1.01}), 1.0, lim);
  EXPECT_DOUBLE_EQ(ch[0].requested, 0.2);
  // Negative drops (pruning helped) pass; max_ratio caps.
  lim.max_ratio = 0.5;
  ch = choose_t_sensitive(fake_scan({-0.2, -0.1, 0, 0, 0, 0, 0.3}), 0.5, lim);
  EXPECT_DOUBLE_EQ(ch[0].requested, 0.7);
  EXPECT_EQ(ch[0].channels_after, 20);
}

// Correct predictions of m over the sample set by a plain eval-mode forward of the whole model:
// a sample counts when its label's logit is the first largest.
size_t correct_by_hand(Model& m, const SampleSet& data) {
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Eval;
  ctx.workspace = &ws;
  size_t ok = 0;
  for (size_t b = 0; b < data.batches.size(); ++b) {
    const Tensor& logits = m.forward(data.batches[b], ctx);
    const int n = logits.dim(0), classes = logits.dim(1);
    for (int i = 0; i < n; ++i) {
      int best = 0;
      for (int j = 1; j < classes; ++j)
        if (logits[static_cast<size_t>(i) * classes + j] > logits[static_cast<size_t>(i) * classes + best]) best = j;
      ok += best == data.labels[b][static_cast<size_t>(i)] ? 1 : 0;
    }
  }
  return ok;
}

class ScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m = model_from_desc(vgg_desc(), "vgg");
    randomize(m, 31);
    SyntheticDataset ds(120, 1, 8, 3, 5);
    data = load_samples(ds, 0, 50);  // 50 + 50 + 20: a partial last batch too
  }
  Model m;
  SampleSet data;
};

TEST_F(ScanTest, SampleSetHoldsTheRequestedSubset) {
  EXPECT_EQ(data.size(), 120u);
  ASSERT_EQ(data.batches.size(), 3u);
  EXPECT_EQ(data.batches[2].dim(0), 20);
  SyntheticDataset ds(120, 1, 8, 3, 5);
  SampleSet sub = load_samples(ds, 30, 50);
  EXPECT_EQ(sub.size(), 30u);
  // Evenly spread: sample i of the subset is sample 4*i of the data set.
  EXPECT_EQ(sub.labels[0][7], ds.label(28));
}

TEST_F(ScanTest, ScanMeasuresExactlyThePrunedModel) {
  GroupAnalysis a = analyze_groups(m);
  auto crit = make_criterion("mean_weight");
  ScanOptions so;
  so.ratios = {0.25, 0.5, 0.9};
  so.progress = false;
  ScanResult s = sensitivity_scan(m, a, *crit, data, so);
  EXPECT_EQ(s.samples, 120u);
  EXPECT_NEAR(s.base_acc, accuracy(m, data), 1e-12);
  const size_t base_correct = correct_by_hand(m, data);
  EXPECT_DOUBLE_EQ(s.base_acc, base_correct / 120.0);
  ASSERT_EQ(s.layers.size(), 3u);
  // Channels removed, worked out by hand: round(ratio * channels), halves away from zero.
  const std::vector<std::string> layers = {"c1", "c2", "fc1"};
  const std::vector<std::vector<int>> removed = {{2, 3, 5},    // 6 channels: 1.5, 3, 5.4
                                                 {2, 4, 7},    // 8 channels: 2, 4, 7.2
                                                 {3, 6, 11}};  // 12 channels: 3, 6, 10.8
  for (size_t l = 0; l < 3; ++l) {
    const ScanCurve& c = s.layers[l];
    ASSERT_EQ(c.layer, layers[l]);
    const ChannelGroup& g = *a.find(c.layer);
    for (size_t k = 0; k < so.ratios.size(); ++k) {
      ASSERT_EQ(c.removed[k], removed[l][k]) << c.layer << " ratio " << so.ratios[k];
      // The scan computes the layers before the pruned one once and shares them; the result
      // must equal a plain full forward of the pruned model, counted here without the scan's
      // helpers (Model::forward, the first-largest logit).
      Model p = prune_channels(m, {{g.name, lowest_scores(crit->scores(m, g), removed[l][k])}});
      const size_t correct = correct_by_hand(p, data);
      EXPECT_DOUBLE_EQ(c.acc[k], correct / 120.0) << c.layer << " ratio " << so.ratios[k];
      // The drop in percentage points: 100 * (dense - pruned) correct / 120 samples.
      const double points = 100.0 * (static_cast<double>(base_correct) - static_cast<double>(correct)) / 120.0;
      EXPECT_NEAR(c.drop[k], points, 1e-9) << c.layer << " ratio " << so.ratios[k];
    }
  }
  const std::string csv = scan_csv(s, 2);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 3 * 3);
  EXPECT_NE(csv.find("2,c2,8,0.5,4,"), std::string::npos) << csv;
}

TEST_F(ScanTest, DeadChannelsCostNothingInTheScan) {
  // Half of c2's filters contribute nothing (zero weights, zero BN shift): Mean Weight ranks them
  // lowest, so removing half of c2 must not change a single prediction.
  auto* c2 = dynamic_cast<Conv2d*>(m.find("c2"));
  auto* bn2 = dynamic_cast<BatchNorm2d*>(m.find("bn2"));
  for (int f : {0, 2, 3, 6}) {
    const size_t per = c2->weight.numel() / 8;
    std::fill(c2->weight.data() + f * per, c2->weight.data() + (f + 1) * per, 0.f);
    bn2->beta[static_cast<size_t>(f)] = 0;
    bn2->running_mean[static_cast<size_t>(f)] = 0;
  }
  GroupAnalysis a = analyze_groups(m);
  ScanOptions so;
  so.ratios = {0.5, 0.75};
  so.progress = false;
  ScanResult s = sensitivity_scan(m, a, *make_criterion("mean_weight"), data, so);
  const ScanCurve& c = s.layers[1];
  ASSERT_EQ(c.layer, "c2");
  EXPECT_EQ(c.drop[0], 0.0);
  RatioLimits lim;
  lim.min_channels = 2;
  auto ch = choose_t_sensitive(s, 0.0, lim);  // even T = 0 allows removing the dead half
  EXPECT_LE(ch[1].channels_after, 4);
}

TEST_F(ScanTest, RatiosThatWouldEmptyALayerAreNotMeasured) {
  Model tiny = model_from_desc(
      "[input]\nchannels=1\nheight=8\nwidth=8\n[conv]\nname=a\nfilters=2\nsize=3\npad=1\n[relu]\n"
      "[flatten]\n[linear]\nname=out\nout=3\n",
      "tiny");
  randomize(tiny, 2);
  ScanOptions so;
  so.ratios = {0.3, 0.9};
  so.progress = false;
  ScanResult s = sensitivity_scan(tiny, analyze_groups(tiny), *make_criterion("l1"), data, so);
  EXPECT_EQ(s.layers[0].removed[0], 1);
  EXPECT_EQ(s.layers[0].removed[1], -1);
  EXPECT_TRUE(std::isnan(s.layers[0].drop[1]));
  auto ch = choose_t_sensitive(s, 100.0, RatioLimits{0.9, 1, 1});
  EXPECT_EQ(ch[0].channels_after, 1);  // the unmeasured ratio is never chosen
}

TEST(PrunePolicyMacs, BaselinesMeetTheTargetAtTheSmallestRatio) {
  Model m = model_from_desc(mobile_desc(), "mobile");
  randomize(m, 8);
  GroupAnalysis a = analyze_groups(m);
  RatioLimits lim;
  lim.min_channels = 2;
  const int64_t target = m.macs() / 2;
  auto u = uniform_for_macs(m, a, target, lim);
  const int64_t got = macs_after(m, a, u);
  EXPECT_LE(got, target);
  // Every layer at the same requested ratio, and a slightly smaller ratio misses the target.
  for (const auto& c : u) EXPECT_DOUBLE_EQ(c.requested, u[0].requested);
  EXPECT_GT(macs_after(m, a, choose_uniform(a, u[0].requested - 0.02, lim)), target);
  // The same MACs through the surgery: macs_after predicts the real model.
  auto crit = make_criterion("mean_weight");
  EXPECT_EQ(prune_channels(m, a, removal_for(m, a, *crit, u)).macs(), got);
  auto gl = global_for_macs(m, a, *crit, target, lim);
  EXPECT_LE(macs_after(m, a, gl), target);
  EXPECT_GT(macs_after(m, a, gl), target / 2);  // not wildly past it either
  // Unreachable target: the most the limits allow.
  auto most = uniform_for_macs(m, a, 1, lim);
  for (const auto& c : most) EXPECT_DOUBLE_EQ(c.requested, lim.max_ratio);
}

}  // namespace
}  // namespace trim
