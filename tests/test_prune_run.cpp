// A whole pruning run (pruning/prune_run.h) on a tiny model and a synthetic data set: rounds,
// the accuracy budget, the baselines at a MACs target, and every file the run writes.
#include <gtest/gtest.h>

#include <filesystem>

#include "framework/layers/dropout.h"
#include "framework/model_file.h"
#include "framework/trainer.h"
#include "pruning/prune_run.h"
#include "tests/test_prune_fixtures.h"

namespace trim {
namespace {

using namespace prune_test;

class PruneRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new DataSplits3;
    data_->train = std::make_shared<SyntheticDataset>(600, 1, 8, 3, 1);
    data_->val = std::make_shared<SyntheticDataset>(150, 1, 8, 3, 2);
    data_->test = std::make_shared<SyntheticDataset>(150, 1, 8, 3, 3);
    // A wider model than the task needs, trained for a few epochs: room to prune.
    std::string desc = vgg_desc(3);
    desc.replace(desc.find("filters=6"), 9, "filters=16");
    desc.replace(desc.find("filters=8"), 9, "filters=16");
    desc.replace(desc.find("out=12"), 6, "out=32");
    dense_ = new Model(model_from_desc(desc, "wide"));
    dense_->init_params(3);
    dense_->class_names = {"a", "b", "c"};
    auto src = make_batcher(data_->train, 32, true, 1, 0);
    TrainOptions t;
    t.schedule.epochs = 4;
    t.schedule.base_lr = 0.05f;
    t.progress = false;
    train(*dense_, *src, nullptr, t);
  }
  static void TearDownTestSuite() {
    delete dense_;
    delete data_;
  }
  PruneConfig config(const std::string& name) {
    PruneConfig c;
    c.model_path = "<test>";
    c.folder = temp_dir("prune_run_" + name);
    c.iterations = 2;
    c.finetune.schedule.epochs = 1;
    c.finetune.schedule.base_lr = 0.01;
    c.min_channels = 2;
    c.scan_samples = 100;
    c.ratios = {0.25, 0.5, 0.75};
    c.latency_runs = 3;
    c.workers = 0;
    c.quiet = true;
    return c;
  }
  static DataSplits3* data_;
  static Model* dense_;
};
DataSplits3* PruneRunTest::data_ = nullptr;
Model* PruneRunTest::dense_ = nullptr;

TEST_F(PruneRunTest, TSensitiveRoundsWriteModelScanAndReports) {
  PruneConfig c = config("t");
  c.thresholds = {100.0};  // every ratio passes: the limits decide, so the test knows the result
  c.total_threshold = 100.0;
  c.max_ratio = 0.5;
  c.dropout = 0.125;  // fine-tuning's dropout, kept in the pruned model
  PruneReport r = run_pruning(*dense_, *data_, c);
  ASSERT_EQ(r.rounds.size(), 2u);
  for (const auto& rd : r.rounds) {
    EXPECT_TRUE(rd.accepted) << rd.note;
    EXPECT_TRUE(rd.has_model);
    for (const auto& l : rd.layers) EXPECT_DOUBLE_EQ(l.requested, 0.75) << l.layer;  // largest passing
  }
  // Round 1 halves every layer (capped at max_ratio 0.5), round 2 halves again (fc1: 32->16->8).
  EXPECT_EQ(r.rounds[0].pruned.channels, (std::vector<std::pair<std::string, int>>{{"c1", 8}, {"c2", 8}, {"fc1", 16}}));
  EXPECT_EQ(r.final_model.channels, (std::vector<std::pair<std::string, int>>{{"c1", 4}, {"c2", 4}, {"fc1", 8}}));
  EXPECT_LT(r.final_model.macs, r.dense.macs / 8);
  ASSERT_TRUE(r.dense.latency_ms && r.final_model.latency_ms);
  EXPECT_GT(*r.dense.latency_ms, 0);
  EXPECT_GT(*r.final_model.latency_ms, 0);
  for (const auto& a : {r.dense.val_acc, r.dense.test_acc, r.final_model.val_acc, r.final_model.test_acc}) {
    ASSERT_TRUE(a);
    EXPECT_GE(*a, 0.0);
    EXPECT_LE(*a, 1.0);
  }
  ASSERT_TRUE(r.dense.test_acc);
  EXPECT_GT(*r.dense.test_acc, 0.6);  // the task is learnable: the figures compare real models

  // Files: the final model loads and matches the report; scans, plot, reports, settings.
  Model p = load_model(c.folder + "/pruned.model");
  EXPECT_EQ(p.macs(), r.final_model.macs);
  EXPECT_EQ(p.class_names, dense_->class_names);
  int dropouts = 0;
  for (const auto& l : p.layers)
    if (auto* d = dynamic_cast<const Dropout*>(l.get())) {
      EXPECT_FLOAT_EQ(d->p, 0.125f);
      ++dropouts;
    }
  EXPECT_EQ(dropouts, 1);
  EXPECT_TRUE(std::filesystem::exists(c.folder + "/round1.model"));
  const std::string csv = read_file(c.folder + "/scan.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * 3 * 3);  // header + rounds x layers x ratios
  const std::string svg = read_file(c.folder + "/scan_round2.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("c2 (8)"), std::string::npos);  // legend: layer and its channels in round 2
  const std::string json = read_file(c.folder + "/report.json");
  for (const char* key : {"\"dense\"", "\"final\"", "\"rounds\"", "\"speedup\"", "\"requested_ratio\"",
                          "\"achieved_ratio\"", "\"val_before_finetune\"", "\"latency_ms\"", "\"macs\""})
    EXPECT_NE(json.find(key), std::string::npos) << key;
  const std::string txt = read_file(c.folder + "/report.txt");
  EXPECT_NE(txt.find("round 2"), std::string::npos);
  PruneConfig back = parse_prune_config(read_file(c.folder + "/config.ini"), "config.ini");
  EXPECT_EQ(back.iterations, 2);
}

TEST_F(PruneRunTest, RoundPastTheBudgetIsRejectedAndNotKept) {
  PruneConfig c = config("budget");
  c.thresholds = {100.0};
  c.total_threshold = 0;  // any validation drop at all rejects the round
  c.max_ratio = 0.75;
  c.finetune.schedule.epochs = 0;  // no fine-tuning: pruning 75% of everything must cost validation accuracy
  PruneReport r = run_pruning(*dense_, *data_, c);
  ASSERT_EQ(r.rounds.size(), 1u);
  EXPECT_FALSE(r.rounds[0].accepted);
  EXPECT_NE(r.rounds[0].note.find("total_threshold"), std::string::npos) << r.rounds[0].note;
  // The final model is the dense one.
  EXPECT_EQ(r.final_model.macs, r.dense.macs);
  EXPECT_EQ(load_model(c.folder + "/pruned.model").macs(), r.dense.macs);

  // With one retry the round is tried again from the same model with T halved, then the run stops.
  c.folder = temp_dir("prune_run_retry");
  c.retries = 1;
  r = run_pruning(*dense_, *data_, c);
  ASSERT_EQ(r.rounds.size(), 2u);
  EXPECT_EQ(r.rounds[1].round, 1);
  EXPECT_EQ(r.rounds[1].attempt, 2);
  EXPECT_DOUBLE_EQ(r.rounds[1].threshold, 50.0);
  EXPECT_FALSE(r.rounds[1].accepted);
  EXPECT_EQ(r.rounds[1].layers[0].channels_before, r.rounds[0].layers[0].channels_before);
  EXPECT_TRUE(std::filesystem::exists(c.folder + "/round1b.model"));
  EXPECT_EQ(r.final_model.macs, r.dense.macs);
}

TEST_F(PruneRunTest, FineTuningThatHurtsIsNotKept) {
  PruneConfig c = config("hurts");
  c.thresholds = {100.0};
  c.total_threshold = 100.0;
  c.iterations = 1;
  c.ratios = {0.25};  // light pruning: the model still works before fine-tuning
  // A destructive fine-tuning: weight decay this strong shrinks the classifier's weights by a
  // quarter every step (BN and biases are exempt), so the model ends up near chance.
  c.finetune.sgd.weight_decay = 15;
  c.finetune.schedule.base_lr = 0.05;
  PruneReport r = run_pruning(*dense_, *data_, c);
  ASSERT_EQ(r.rounds.size(), 1u);
  const RoundReport& rd = r.rounds[0];
  ASSERT_TRUE(rd.val_before_finetune && rd.pruned.val_acc);
  EXPECT_GT(*rd.val_before_finetune, 0.6);
  EXPECT_NE(rd.note.find("kept the weights before fine-tuning"), std::string::npos) << rd.note;
  EXPECT_DOUBLE_EQ(*rd.pruned.val_acc, *rd.val_before_finetune);
  EXPECT_TRUE(rd.accepted);
}

TEST_F(PruneRunTest, BaselinesReachTheMacsTarget) {
  for (const char* mode : {"uniform", "global"}) {
    PruneConfig c = config(mode);
    c.mode = mode;
    c.target_macs = 0.3;
    c.iterations = 2;
    c.finetune.schedule.epochs = 0;
    PruneReport r = run_pruning(*dense_, *data_, c);
    ASSERT_EQ(r.rounds.size(), 2u) << mode;
    // Round 1 aims at sqrt(0.3) of the dense MACs, round 2 at 0.3.
    EXPECT_LE(r.rounds[0].pruned.macs, static_cast<int64_t>(0.548 * static_cast<double>(r.dense.macs)) + 1) << mode;
    EXPECT_LE(r.final_model.macs, static_cast<int64_t>(0.3 * static_cast<double>(r.dense.macs)) + 1) << mode;
    EXPECT_GT(r.final_model.macs, static_cast<int64_t>(0.15 * static_cast<double>(r.dense.macs))) << mode;
    EXPECT_FALSE(std::filesystem::exists(c.folder + "/scan.csv")) << mode;  // no scan for baselines
  }
}

}  // namespace
}  // namespace trim
