// End to end (llm.c's test_gpt2 in spirit): a few SGD epochs on a tiny CNN and a tiny synthetic
// data set make the loss fall and the accuracy rise; a run stopped after an epoch and resumed
// equals an uninterrupted one bit for bit (one thread, fixed seed).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "datasets/batcher.h"
#include "framework/evaluate.h"
#include "framework/model_file.h"
#include "framework/trainer.h"
#include "temp_dir.h"

namespace trim {
namespace {

// Class c: a bright 3x3 blob at one of 3 positions on an 8x8 noisy image.
class BlobDataset : public Dataset {
 public:
  explicit BlobDataset(size_t n) : n_(n) {}
  size_t size() const override { return n_; }
  Shape sample_shape() const override { return Shape{1, 8, 8}; }
  int num_classes() const override { return 3; }
  std::vector<std::string> class_names() const override { return {"left", "middle", "right"}; }
  int label(size_t i) const override { return static_cast<int>(i % 3); }
  bool load(size_t i, float* out, bool augment, std::mt19937_64& rng) const override {
    std::mt19937_64 noise(i * 7919 + 1);
    std::normal_distribution<float> nd(0.f, 0.3f);
    for (int k = 0; k < 64; ++k) out[k] = nd(noise);
    int x0 = 1 + 2 * label(i), y0 = 2 + static_cast<int>(i % 4);
    if (augment) y0 = 1 + static_cast<int>(rng() % 5);
    for (int y = y0; y < y0 + 3; ++y)
      for (int x = x0; x < x0 + 3; ++x) out[y * 8 + x] += 1.f;
    return true;
  }
  std::string describe() const override { return "blobs"; }

 private:
  size_t n_;
};

// The cells of a CSV file without quoting (log.csv has none), row by row.
std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::istringstream l(line);
    std::string cell;
    while (std::getline(l, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

const char* kNet = R"([input]
channels=1
height=8
width=8
[conv]
filters=6
size=3
pad=1
bias=0
[batchnorm]
[relu]
[maxpool]
size=2
[conv]
filters=8
size=3
pad=1
[relu]
[flatten]
[linear]
out=16
[relu]
[dropout]
p=0.2
[linear]
out=3
)";

TrainOptions options(int epochs) {
  TrainOptions t;
  t.schedule.epochs = epochs;
  t.schedule.base_lr = 0.05f;
  t.threads = 1;
  t.progress = false;
  t.seed = 3;
  return t;
}

BatcherOptions batches(bool train) {
  BatcherOptions o;
  o.batch_size = 16;
  o.shuffle = o.augment = train;
  o.seed = 3;
  o.workers = 1;
  return o;
}

TEST(TrainEndToEnd, LossFallsAndAccuracyRises) {
  auto data = std::make_shared<BlobDataset>(240);
  auto val = std::make_shared<BlobDataset>(60);
  Model m = model_from_desc(kNet, "net");
  m.init_params(3);
  Batcher tr(data, batches(true)), va(val, batches(false));
  EvalResult before = evaluate(m, va, 1);
  TrainResult r = train(m, tr, &va, options(4));
  ASSERT_EQ(r.epochs.size(), 4u);
  EXPECT_LT(r.epochs.back().train_loss, 0.5 * r.epochs.front().train_loss);
  EvalResult after = evaluate(m, va, 1);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_GT(after.top1, 0.9);
  EXPECT_NEAR(after.top1, r.best_val_acc, 1e-9);  // the model holds the best epoch's weights
}

TEST(TrainEndToEnd, StopAndResumeEqualsUninterrupted) {
  auto data = std::make_shared<BlobDataset>(96);
  auto val = std::make_shared<BlobDataset>(30);
  TempDir a, b;
  TrainResult ra;
  Model ma = model_from_desc(kNet, "net"), mb = model_from_desc(kNet, "net");
  ma.init_params(5);
  mb.init_params(5);
  {
    Batcher tr(data, batches(true)), va(val, batches(false));
    TrainOptions t = options(3);
    t.out_dir = a.path();
    ra = train(ma, tr, &va, t);
  }
  {
    Batcher tr(data, batches(true)), va(val, batches(false));
    TrainOptions t = options(3);
    t.out_dir = b.path();
    t.stop_after = 1;
    train(mb, tr, &va, t);
  }
  {
    // A fresh process would start from a fresh model: the checkpoint must carry everything.
    Model fresh = model_from_desc(kNet, "net");
    fresh.init_params(99);
    Batcher tr(data, batches(true)), va(val, batches(false));
    TrainOptions t = options(3);
    t.out_dir = b.path();
    t.resume = true;
    TrainResult r = train(fresh, tr, &va, t);
    EXPECT_EQ(r.epochs.size(), 3u);
    mb = std::move(fresh);
  }
  auto pa = ma.params(), pb = mb.params();
  for (size_t i = 0; i < pa.size(); ++i)
    for (size_t j = 0; j < pa[i].value->numel(); ++j) ASSERT_EQ((*pa[i].value)[j], (*pb[i].value)[j]) << pa[i].name;
  // log.csv: the header, then one row per epoch (the resumed run's first row carried over in the
  // checkpoint). Every column but the two timings must match the uninterrupted run's exactly.
  const auto rows_a = csv_rows(read_file(a / "log.csv")), rows_b = csv_rows(read_file(b / "log.csv"));
  ASSERT_EQ(rows_a.size(), 4u);
  ASSERT_EQ(rows_b.size(), 4u);
  EXPECT_EQ(rows_a[0], rows_b[0]);
  const std::vector<std::string> header = {"epoch", "lr", "train_loss", "train_acc", "val_loss",
                                           "val_acc", "seconds", "images_per_s", "skipped"};
  EXPECT_EQ(rows_a[0], header);
  for (size_t r = 1; r < 4; ++r) {
    ASSERT_EQ(rows_a[r].size(), header.size()) << "row " << r;
    ASSERT_EQ(rows_b[r].size(), header.size()) << "row " << r;
    EXPECT_EQ(rows_a[r][0], std::to_string(r));
    for (size_t c = 0; c < header.size(); ++c) {
      if (header[c] == "seconds" || header[c] == "images_per_s") continue;  // wall-clock figures
      EXPECT_EQ(rows_a[r][c], rows_b[r][c]) << "log.csv row " << r << " column " << header[c];
    }
    // The values are the run's own: the accuracies logged are the ones train() returned.
    EXPECT_NEAR(std::stod(rows_a[r][5]), ra.epochs[r - 1].val_acc, 5e-6) << "row " << r;
    EXPECT_NEAR(std::stod(rows_a[r][2]), ra.epochs[r - 1].train_loss, 5e-6) << "row " << r;
  }
  EXPECT_NE(rows_a[1][2], rows_a[3][2]) << "the train loss of epochs 1 and 3 logged as one value";
  Model best = load_model(b / "model.model");
  EXPECT_EQ(best.class_names.size(), 0u);
}

TEST(TrainEndToEnd, ResumeRefusesACheckpointOfAnotherModel) {
  auto data = std::make_shared<BlobDataset>(48);
  TempDir d;
  Model m = model_from_desc(kNet, "net");
  m.init_params(1);
  Batcher tr(data, batches(true));
  TrainOptions t = options(1);
  t.out_dir = d.path();
  train(m, tr, nullptr, t);
  std::string other = kNet;
  other.replace(other.find("out=16"), 6, "out=12");
  Model o = model_from_desc(other, "other");
  t.resume = true;
  t.schedule.epochs = 2;
  try {
    train(o, tr, nullptr, t);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different model"), std::string::npos) << e.what();
  }
}

TEST(LrSchedule, CosineStepWarmupAndBadKinds) {
  LrSchedule s;
  s.base_lr = 0.1f;
  s.epochs = 10;
  EXPECT_FLOAT_EQ(s.at(0), 0.1f);
  EXPECT_NEAR(s.at(5), 0.05f, 1e-6);
  EXPECT_NEAR(s.at(10), 0.0f, 1e-6);
  s.warmup_epochs = 2;
  EXPECT_LT(s.at(0.5), s.at(1.5));
  EXPECT_NEAR(s.at(2), 0.1f, 1e-6);
  s.kind = "step";
  s.warmup_epochs = 0;
  s.milestones = {3, 6};
  EXPECT_NEAR(s.at(2.9), 0.1f, 1e-7);
  EXPECT_NEAR(s.at(3), 0.01f, 1e-7);
  EXPECT_NEAR(s.at(7), 0.001f, 1e-8);
  s.kind = "exponential";
  EXPECT_THROW(s.at(1), Error);
}

}  // namespace
}  // namespace trim
