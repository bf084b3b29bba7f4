// Pruning graph models (pruning/dependency.h, surgery.h): coupled channel groups through add
// (identity and projection shortcuts), concat, depthwise convs and an FC consumer after a
// flatten; the pruned graph against the unpruned one with the removed channels zeroed; group
// scores; a T-sensitive round per group.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "framework/model_file.h"
#include "pruning/criterion.h"
#include "pruning/dependency.h"
#include "pruning/policy.h"
#include "pruning/sensitivity.h"
#include "pruning/surgery.h"
#include "tests/test_prune_fixtures.h"

namespace trim {
namespace {

using namespace prune_test;

// stem -> identity residual block -> inverted residual (pw, dw, pw) -> projection block (stride
// 2) -> two branches concatenated -> BN -> pool -> flatten -> fc1 -> fc.
const char* kGraph = R"([input]
channels=2
height=8
width=8
[conv]
name=stem
filters=6
size=3
pad=1
bias=0
[batchnorm]
name=stem_bn
[relu]
name=stem_relu
[conv]
name=b1c1
filters=5
size=3
pad=1
bias=0
[batchnorm]
name=b1c1_bn
[relu]
name=b1c1_relu
[conv]
name=b1c2
filters=6
size=3
pad=1
bias=0
[batchnorm]
name=b1c2_bn
[add]
name=b1_add
from=b1c2_bn,stem_relu
[relu]
name=b1_relu
[conv]
name=e_pw
filters=8
size=1
bias=0
[batchnorm]
name=e_pw_bn
[relu6]
name=e_pw_relu
[conv]
name=e_dw
filters=8
size=3
pad=1
groups=8
bias=0
[batchnorm]
name=e_dw_bn
[relu6]
name=e_dw_relu
[conv]
name=e_proj
filters=6
size=1
bias=0
[batchnorm]
name=e_proj_bn
[add]
name=e_add
from=e_proj_bn,b1_relu
[conv]
name=p_c1
filters=7
size=3
stride=2
pad=1
bias=0
[batchnorm]
name=p_c1_bn
[relu]
name=p_c1_relu
[conv]
name=p_c2
filters=7
size=3
pad=1
bias=0
[batchnorm]
name=p_c2_bn
[conv]
name=p_sc
from=e_add
filters=7
size=1
stride=2
bias=0
[batchnorm]
name=p_sc_bn
[add]
name=p_add
from=p_c2_bn,p_sc_bn
[relu]
name=p_relu
[conv]
name=br1
from=p_relu
filters=3
size=1
[conv]
name=br2
from=p_relu
filters=4
size=3
pad=1
[concat]
name=cat
from=br1,br2
[batchnorm]
name=cat_bn
[relu]
name=cat_relu
[maxpool]
name=pool
size=2
[flatten]
name=flat
[linear]
name=fc1
out=9
[relu]
name=fc1_relu
[linear]
name=fc
out=3
)";

std::vector<std::string> names_of(const Model& m, const std::vector<int>& idx) {
  std::vector<std::string> v;
  for (int i : idx) v.push_back(m.layers[static_cast<size_t>(i)]->name());
  return v;
}

TEST(PruneGraph, CoupledGroupsThroughAddConcatAndDepthwise) {
  Model m = model_from_desc(kGraph, "graph.model");
  GroupAnalysis a = analyze_groups(m);
  std::vector<std::string> groups;
  for (const auto& g : a.groups) groups.push_back(g.name);
  EXPECT_EQ(groups, (std::vector<std::string>{"stem", "b1c1", "e_pw", "p_c1", "p_c2", "br1", "br2", "fc1"}));
  const ChannelGroup* stem = a.find("stem");
  ASSERT_NE(stem, nullptr);
  // Everything that meets in the two identity adds is one channel set.
  EXPECT_EQ(names_of(m, stem->sources), (std::vector<std::string>{"stem", "b1c2", "e_proj"}));
  EXPECT_EQ(names_of(m, stem->followers), (std::vector<std::string>{"stem_bn", "b1c2_bn", "e_proj_bn"}));
  EXPECT_EQ(names_of(m, stem->consumers), (std::vector<std::string>{"b1c1", "e_pw", "p_c1", "p_sc"}));
  EXPECT_EQ(names_of(m, stem->source_bns), (std::vector<std::string>{"stem_bn", "b1c2_bn", "e_proj_bn"}));
  const ChannelGroup* proj = a.find("p_c2");
  ASSERT_NE(proj, nullptr);
  EXPECT_EQ(names_of(m, proj->sources), (std::vector<std::string>{"p_c2", "p_sc"}));
  EXPECT_EQ(names_of(m, proj->consumers), (std::vector<std::string>{"br1", "br2"}));
  EXPECT_EQ(names_of(m, a.find("e_pw")->followers), (std::vector<std::string>{"e_pw_bn", "e_dw", "e_dw_bn"}));
  // Both concat inputs reach fc1 through the concat's BN, 2x2 features per channel.
  for (const char* br : {"br1", "br2"}) {
    const ChannelGroup* g = a.find(br);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(names_of(m, g->followers), std::vector<std::string>{"cat_bn"});
    EXPECT_EQ(names_of(m, g->consumers), std::vector<std::string>{"fc1"});
    EXPECT_EQ(g->spatial, 4);
    EXPECT_EQ(g->bn, -1);  // cat_bn also scales the other branch: not this source's own BN
  }
  EXPECT_EQ(a.find("b1c2"), nullptr);  // a member, not a group of its own
  EXPECT_NE(stem->describe(m).find("stem + b1c2 + e_proj"), std::string::npos) << stem->describe(m);
  ASSERT_EQ(a.notes.size(), 1u);
  EXPECT_NE(a.notes[0].find("'fc'"), std::string::npos);
}

TEST(PruneGraph, AddWithTheModelInputIsNotPrunable) {
  Model m = model_from_desc(
      "[input]\nchannels=3\nheight=4\nwidth=4\n[conv]\nname=a\nfilters=3\nsize=3\npad=1\n[add]\nfrom=a,input\n"
      "[conv]\nname=b\nfilters=4\nsize=1\n[globalavgpool]\n[flatten]\n[linear]\nname=fc\nout=2\n",
      "in.model");
  GroupAnalysis a = analyze_groups(m);
  EXPECT_EQ(a.find("a"), nullptr);
  ASSERT_NE(a.find("b"), nullptr);
  bool named = false;
  for (const auto& n : a.notes) named = named || n.find("'a' is not prunable") != std::string::npos;
  EXPECT_TRUE(named);
}

// Zeroes channels `dead` of a group everywhere its rows live: source filters and biases,
// follower rows (BN shift and mean, depthwise filters). The group's activations are then exactly
// zero, so removing the channels must leave the outputs as they are.
void kill_rows(Model& m, const GroupAnalysis& a, const ChannelRemoval& dead) {
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const ChannelRole role = m.layers[i]->channel_role();
    if (role != ChannelRole::Source && role != ChannelRole::Follower) continue;
    std::vector<int> rows;
    int offset = 0;
    for (const auto& s : a.out_segments[i]) {
      if (s.group >= 0) {
        auto it = dead.find(a.groups[static_cast<size_t>(s.group)].name);
        if (it != dead.end())
          for (int f : it->second) rows.push_back(offset + f);
      }
      offset += s.channels;
    }
    for (auto& p : m.layers[i]->params()) {
      if (p.name == "gamma" || p.name == "running_var") continue;
      const size_t per = p.value->numel() / static_cast<size_t>(p.value->dim(0));
      for (int r : rows) std::fill(p.value->data() + r * per, p.value->data() + (r + 1) * per, 0.f);
    }
  }
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (size_t i = 0; i < a.numel(); ++i) d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

TEST(PruneGraph, PrunedGraphEqualsTheZeroedOne) {
  Model m = model_from_desc(kGraph, "graph.model");
  randomize(m, 21);
  GroupAnalysis a = analyze_groups(m);
  const ChannelRemoval dead = {{"stem", {0, 4}}, {"b1c1", {2}},      {"e_pw", {1, 5, 6}}, {"p_c1", {3}},
                               {"p_c2", {0, 6}}, {"br1", {1}},       {"br2", {0, 3}},     {"fc1", {2, 8}}};
  kill_rows(m, a, dead);
  Model p = prune_channels(m, a, dead);
  EXPECT_EQ(p.find("b1c2")->out_shape()[0], 4);  // every member of the stem group lost 2
  EXPECT_EQ(p.find("e_proj")->out_shape()[0], 4);
  EXPECT_EQ(p.find("e_dw")->out_shape()[0], 5);
  EXPECT_EQ(p.find("p_sc")->out_shape()[0], 5);
  EXPECT_EQ(p.find("cat")->out_shape()[0], 4);
  EXPECT_EQ(p.find("fc1")->in_shape(), (Shape{16, 1, 1}));  // 4 channels x 2 x 2 after the flatten
  EXPECT_LT(p.macs(), m.macs());
  EXPECT_FALSE(p.is_chain());
  Tensor x = random_input(m, 4, 5);
  Tensor ya = eval_forward(m, x), yb = eval_forward(p, x);
  ASSERT_EQ(ya.shape(), yb.shape());
  double scale = 0;
  for (float v : ya) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  ASSERT_GT(scale, 1e-3);
  EXPECT_LE(max_abs_diff(ya, yb), 1e-4 * (1 + scale));
  // The pruned graph saves and loads like any model.
  Model q = model_from_desc(model_to_desc(p), "pruned.model");
  EXPECT_EQ(model_to_desc(q), model_to_desc(p));
}

TEST(PruneGraph, RemovingLiveChannelsChangesOutputs) {
  // The converse of the test above, per kind of group: a surgery that ignored a group (or cut
  // the wrong slice) would leave these outputs unchanged.
  Model m = model_from_desc(kGraph, "graph.model");
  randomize(m, 22);
  Tensor x = random_input(m, 4, 6);
  Tensor y = eval_forward(m, x);
  for (const char* g : {"stem", "e_pw", "p_c2", "br2"}) {
    Model p = prune_channels(m, {{g, {1}}});
    EXPECT_GT(max_abs_diff(y, eval_forward(p, x)), 1e-3) << g;
  }
}

TEST(PruneGraph, GroupScoresCombineMembers) {
  Model m = model_from_desc(kGraph, "graph.model");
  randomize(m, 23);
  GroupAnalysis a = analyze_groups(m);
  const ChannelGroup& g = *a.find("p_c2");
  auto crit = make_criterion("mean_weight");
  ChannelGroup only_c2 = g, only_sc = g;
  only_c2.sources = {g.sources[0]};
  only_sc.sources = {g.sources[1]};
  only_sc.source = g.sources[1];
  const auto s1 = crit->group_scores(m, only_c2), s2 = crit->group_scores(m, only_sc);
  crit->combine = GroupCombine::Mean;
  const auto mean = crit->group_scores(m, g);
  crit->combine = GroupCombine::Sum;
  const auto sum = crit->group_scores(m, g);
  crit->combine = GroupCombine::Max;
  const auto mx = crit->group_scores(m, g);
  ASSERT_EQ(mean.size(), 7u);
  for (size_t f = 0; f < 7; ++f) {
    EXPECT_DOUBLE_EQ(mean[f], (s1[f] + s2[f]) / 2);
    EXPECT_DOUBLE_EQ(sum[f], s1[f] + s2[f]);
    EXPECT_DOUBLE_EQ(mx[f], std::max(s1[f], s2[f]));
  }
  EXPECT_NE(s1, s2);
  EXPECT_THROW(group_combine_from("median"), Error);
  // bn_gamma reads each member's own BN.
  auto bn = make_criterion("bn_gamma");
  const auto b = bn->group_scores(m, g);
  const Tensor* g1 = m.find("p_c2_bn")->channel_scale();
  const Tensor* g2 = m.find("p_sc_bn")->channel_scale();
  for (size_t f = 0; f < 7; ++f) EXPECT_NEAR(b[f], (std::fabs((*g1)[f]) + std::fabs((*g2)[f])) / 2, 1e-7);
}

TEST(PruneGraph, TSensitiveRoundPerGroup) {
  Model m = model_from_desc(kGraph, "graph.model");
  randomize(m, 24);
  SyntheticDataset d(60, 2, 8, 3, 1);
  SampleSet s = load_samples(d, 60, 20);
  GroupAnalysis a = analyze_groups(m);
  auto crit = make_criterion("mean_weight");
  ScanOptions so;
  so.progress = false;
  so.ratios = {0.25, 0.5};
  ScanResult scan = sensitivity_scan(m, a, *crit, s, so);
  ASSERT_EQ(scan.layers.size(), a.groups.size());
  EXPECT_EQ(scan.layers[0].layer, "stem");
  // The scan measured the pruned copies: their accuracies are real numbers in [0, 1].
  for (const auto& c : scan.layers)
    for (double acc : c.acc) EXPECT_TRUE(acc >= 0 && acc <= 1) << c.layer;
  RatioLimits lim;
  lim.min_channels = 2;
  // T = 100 points: every scanned ratio passes, so every group is cut to its largest ratio.
  auto choices = choose_t_sensitive(scan, 100.0, lim);
  ChannelRemoval rm = removal_for(m, a, *crit, choices);
  EXPECT_FALSE(rm.empty());
  Model p = prune_channels(m, a, rm, lim.min_channels);
  EXPECT_LT(p.macs(), m.macs());
  EXPECT_EQ(p.find("stem")->out_shape()[0], p.find("e_proj")->out_shape()[0]);
  EXPECT_EQ(macs_after(m, a, choices), p.macs());
  EXPECT_GE(accuracy(p, s), 0.0);
}

}  // namespace
}  // namespace trim
