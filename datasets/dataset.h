// dataset.h - what every data set looks like to training, evaluation and pruning.
//
// A Dataset is an indexed collection of labelled samples of one fixed shape (C, H, W). load()
// must be safe to call from several threads at once (the prefetching batcher does), and must be
// deterministic given the rng state passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace trim {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual Shape sample_shape() const = 0;  // C, H, W after any resize/crop
  virtual int num_classes() const = 0;
  virtual std::vector<std::string> class_names() const = 0;
  virtual int label(size_t i) const = 0;
  // Writes sample i, normalised, as C*H*W floats into out. augment: apply the training
  // augmentation drawing from rng; otherwise the deterministic evaluation transform.
  // Returns false (after printing a warning naming the file) when the sample is unreadable and
  // was skipped; out is then zero-filled. Throws Error instead when strict mode is on.
  virtual bool load(size_t i, float* out, bool augment, std::mt19937_64& rng) const = 0;
  virtual std::string describe() const = 0;  // "Fashion-MNIST train (60000 images, 10 classes)"
};

// A view of some samples of another data set, optionally relabelled (class subsets).
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices,
                std::vector<int> label_map = {}, std::vector<std::string> names = {});
  size_t size() const override { return indices_.size(); }
  Shape sample_shape() const override { return base_->sample_shape(); }
  int num_classes() const override;
  std::vector<std::string> class_names() const override;
  int label(size_t i) const override;
  bool load(size_t i, float* out, bool augment, std::mt19937_64& rng) const override;
  std::string describe() const override;

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<size_t> indices_;
  std::vector<int> label_map_;  // base label -> new label (empty: identity)
  std::vector<std::string> names_;
};

// Keeps only the given classes (in the given order), relabelled 0..k-1, names kept.
std::shared_ptr<Dataset> select_classes(std::shared_ptr<const Dataset> base,
                                        const std::vector<int>& classes);

// Deterministic, stratified-by-nothing seeded split: returns {first, second} with
// round(size*fraction) samples in the second part.
std::pair<std::shared_ptr<Dataset>, std::shared_ptr<Dataset>> split_dataset(
    std::shared_ptr<const Dataset> base, double second_fraction, uint64_t seed);

}  // namespace trim
