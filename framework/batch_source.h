// batch_source.h - what the training loop and evaluation read batches from. datasets/Batcher
// implements it; framework/ never includes datasets/ (data flows one way).
#pragma once

#include <cstddef>
#include <vector>

#include "framework/tensor.h"

namespace trim {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void start_epoch(int epoch) = 0;
  virtual void skip(size_t batches) = 0;
  virtual bool next(Tensor& images, std::vector<int>& labels) = 0;
  virtual size_t batches_per_epoch() const = 0;
  virtual size_t skipped_samples() const = 0;  // unreadable samples skipped in this epoch
  // Data parallelism: the batch next() last returned is samples [offset, offset + its size) of
  // a global batch of `global` samples shared by several processes. global == 0: not shared.
  virtual void share_of_last(size_t& offset, size_t& global) const {
    offset = 0;
    global = 0;
  }
};

}  // namespace trim
