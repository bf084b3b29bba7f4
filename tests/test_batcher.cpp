// Batcher: every sample once per epoch, order a function of (seed, epoch) only, identical
// batches whatever the number of loader threads, skip() for resume.
#include <gtest/gtest.h>

#include <set>

#include "datasets/batcher.h"

namespace trim {
namespace {

// Sample i is a 1x2x2 image filled with i (plus the first rng draw when augmenting).
class CountingDataset : public Dataset {
 public:
  explicit CountingDataset(size_t n) : n_(n) {}
  size_t size() const override { return n_; }
  Shape sample_shape() const override { return Shape{1, 2, 2}; }
  int num_classes() const override { return 7; }
  std::vector<std::string> class_names() const override { return {}; }
  int label(size_t i) const override { return static_cast<int>(i % 7); }
  bool load(size_t i, float* out, bool augment, std::mt19937_64& rng) const override {
    float extra = augment ? static_cast<float>(rng() % 1000) / 1000.f : 0.f;
    for (int k = 0; k < 4; ++k) out[k] = static_cast<float>(i) + extra;
    return i % 50 != 13;  // a few "unreadable" samples
  }
  std::string describe() const override { return "counting"; }

 private:
  size_t n_;
};

std::vector<std::vector<float>> run_epoch(Batcher& b, int epoch) {
  std::vector<std::vector<float>> out;
  Tensor x;
  std::vector<int> y;
  b.start_epoch(epoch);
  while (b.next(x, y)) out.emplace_back(x.begin(), x.end());
  return out;
}

TEST(Batcher, EverySampleOncePerEpochInShuffledOrder) {
  auto ds = std::make_shared<CountingDataset>(203);
  BatcherOptions o;
  o.batch_size = 16;
  o.workers = 2;
  Batcher b(ds, o);
  EXPECT_EQ(b.batches_per_epoch(), 13u);
  auto e0 = run_epoch(b, 0);
  ASSERT_EQ(e0.size(), 13u);
  EXPECT_EQ(e0.back().size(), (203u - 12 * 16) * 4);
  std::multiset<float> seen;
  for (auto& batch : e0)
    for (size_t k = 0; k < batch.size(); k += 4) seen.insert(batch[k]);
  // Unreadable samples arrive zero-filled; sample 0 is zero too.
  std::set<float> distinct(seen.begin(), seen.end());
  EXPECT_EQ(seen.size(), 203u);
  EXPECT_EQ(distinct.size(), 203u - 4);  // samples 13, 63, 113, 163 collapse onto 0
  EXPECT_EQ(b.skipped_samples(), 4u);
  auto e1 = run_epoch(b, 1);
  EXPECT_NE(e0, e1);  // a new order each epoch
}

TEST(Batcher, SameBatchesWhateverTheThreadCount) {
  auto ds = std::make_shared<CountingDataset>(150);
  std::vector<std::vector<float>> ref;
  for (int workers : {0, 1, 2, 3}) {
    BatcherOptions o;
    o.batch_size = 8;
    o.workers = workers;
    o.augment = true;
    o.seed = 42;
    o.prefetch = 2;
    Batcher b(ds, o);
    run_epoch(b, 0);
    auto e = run_epoch(b, 3);
    if (ref.empty())
      ref = e;
    else
      EXPECT_EQ(e, ref) << "workers=" << workers;
  }
}

TEST(Batcher, SkipResumesMidEpochExactly) {
  auto ds = std::make_shared<CountingDataset>(100);
  BatcherOptions o;
  o.batch_size = 10;
  o.augment = true;
  Batcher a(ds, o), b(ds, o);
  auto full = run_epoch(a, 2);
  b.start_epoch(2);
  b.skip(4);
  Tensor x;
  std::vector<int> y;
  for (size_t i = 4; i < full.size(); ++i) {
    ASSERT_TRUE(b.next(x, y));
    EXPECT_EQ(std::vector<float>(x.begin(), x.end()), full[i]);
  }
  EXPECT_FALSE(b.next(x, y));
}

TEST(Batcher, BadOptionsAreErrors) {
  auto ds = std::make_shared<CountingDataset>(10);
  BatcherOptions o;
  o.batch_size = 0;
  EXPECT_THROW(Batcher(ds, o), Error);
  EXPECT_THROW(Batcher(std::make_shared<CountingDataset>(0), BatcherOptions()), Error);
}

}  // namespace
}  // namespace trim
