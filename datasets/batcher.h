// batcher.h - turns a Dataset into shuffled batches for one epoch at a time.
//
// Order and augmentation are a function of (seed, epoch, position) only, so a batch is the same
// whatever the number of loader threads. Loader threads decode the next batches while the
// trainer works on the current one (bounded: at most `prefetch` batches in flight).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "datasets/dataset.h"
#include "framework/batch_source.h"
#include "framework/tensor.h"

namespace trim {

struct BatcherOptions {
  int batch_size = 64;
  bool shuffle = true;
  bool augment = false;
  bool drop_last = false;
  uint64_t seed = 1;
  int workers = 1;   // loader threads (0: load on the caller's thread)
  int prefetch = 2;  // batches decoded ahead
  // Data parallelism: this process loads only its share of every batch (batch_share in
  // framework/communicator.h), with the order and augmentation of the whole batch.
  int shard = 0, shards = 1;
  // Training: every share must hold a sample (a batch-norm layer cannot normalise nothing), so
  // the batch must be at least `shards` and a last batch smaller than that is dropped.
  // Evaluation leaves it off: an empty share simply contributes nothing.
  bool nonempty_shares = false;
};

class Batcher : public BatchSource {
 public:
  Batcher(std::shared_ptr<const Dataset> data, const BatcherOptions& opt);
  ~Batcher() override;
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Begins epoch `epoch` (0-based); the order is a pure function of seed and epoch.
  void start_epoch(int epoch) override;
  // Skips the first `batches` batches of the current epoch (used by --resume).
  void skip(size_t batches) override;
  // Fills images (N x C x H x W) and labels; returns false when the epoch is over.
  bool next(Tensor& images, std::vector<int>& labels) override;
  size_t batches_per_epoch() const override;
  size_t skipped_samples() const override;  // unreadable samples skipped so far in this epoch
  void share_of_last(size_t& offset, size_t& global) const override;
  const Dataset& data() const { return *data_; }

 private:
  struct Impl;
  std::shared_ptr<const Dataset> data_;
  BatcherOptions opt_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trim
