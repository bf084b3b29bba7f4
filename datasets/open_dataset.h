// open_dataset.h - one call from a folder on disk to train and test data sets: detects the
// layout (layouts.h), carves a seeded test split when the layout ships none, settles the
// transform (size and channels from the images when not forced, mean/std from the data when
// not given) and optionally serves decoded images from a cache file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "datasets/augment.h"
#include "datasets/dataset.h"

namespace trim {

struct ImageOptions {
  ImageTransform transform = ImageTransform::imagenet();
  // Tiny images all of one size (<= 64 px a side, e.g. Fashion-MNIST exported by
  // export-images) are used at their own size with ImageTransform::sized instead of being
  // blown up to 224. set_size() turns this off.
  bool auto_size = true;
  // 1 channel when every probed image is stored grey, else 3. set_channels() turns this off.
  bool auto_channels = true;
  bool strict = false;              // an unreadable image is an Error, not a skipped sample
  bool cache = false;               // decoded images in one file per split (image_cache.h)
  std::string cache_dir;            // "": <root>/.trim-cache, or ~/.cache/trim if root is read-only
  bool caltech_background = false;  // Caltech-101: keep BACKGROUND_Google as a class
  std::string val_labels;           // ImageNet flat val: label file (empty: known names in root)
  double test_fraction = 0.2;       // carved per class when the layout ships no test split (0: none)
  uint64_t split_seed = 1;
  int threads = 2;                  // for building the cache and estimating mean/std
  size_t stats_samples = 2000;      // images sampled when transform.mean is empty

  // Output size `size` x `size`. Below 64 px: ImageTransform::sized (no random-resized crop);
  // otherwise the ImageNet recipe scaled, resize = round(size * 256 / 224).
  void set_size(int size);
  void set_channels(int channels);
};

struct DataSplits {
  std::shared_ptr<Dataset> train, test;  // test may be null when the layout ships none
  std::string layout;                    // what was detected, e.g. "Caltech-101 at /data/caltech"
};

// Errors (trim::Error, naming the path): missing root, no class folders, an empty class
// folder, a label file that does not match its images, a cache that cannot be written.
DataSplits open_image_dataset(const std::string& root, const ImageOptions& opt);

}  // namespace trim
