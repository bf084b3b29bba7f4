// image_folder.h - a data set of image files on disk: root/<class>/<image> (torchvision's
// ImageFolder), or any list of (file, label) pairs a layout in layouts.h produced.
//
// Samples are decoded on demand in load() (from the loader threads) or taken from an
// ImageCache. An unreadable sample (corrupt, truncated, empty, not an image) is skipped: load()
// zero-fills, returns false, prints one warning naming the file (the first time that file
// fails) and counts it; in strict mode it throws Error naming the file instead.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "datasets/augment.h"
#include "datasets/dataset.h"
#include "datasets/image_cache.h"

namespace trim {

struct ImageSample {
  std::string path;
  int label = 0;
};

// Samples and class names as a layout found them.
struct SampleList {
  std::vector<ImageSample> samples;  // sorted by class, then path
  std::vector<std::string> classes;  // sorted by name; label = index here
};

// Scans root/<class>/... (recursively below each class folder, following symlinks). Classes
// are the sub-folder names sorted bytewise (as Python's sorted(), so as torchvision), minus
// `exclude`; hidden entries (".name") are ignored; files without an image extension are
// skipped with one warning per scan naming the first of them. Error naming the path when
// root is missing or not a folder, holds no class folders, or a class folder holds no image.
SampleList scan_image_folder(const std::string& root, const std::vector<std::string>& exclude = {});

// Writing any data set of 1 or 3 channels out as an image folder (tools/export-images): the
// class sub-folders are the class names made safe for file names ('/' and other characters
// outside [A-Za-z0-9._-] become '_'), files are <index in data>.<format>, zero-padded.
struct ExportOptions {
  std::string format = "png";  // png (lossless), jpg or bmp
  int jpeg_quality = 95;
  std::vector<int> classes;    // only these labels (empty: all)
  size_t limit = 0;            // at most this many images per class (0: all)
  // Undoes the data set's normalisation: pixel = round((value * std + mean) * 255).
  float mean = 0.f, std = 1.f;
};
// Returns the number of images written. Error naming the folder when it already holds files
// (exports are never mixed) or a file cannot be written.
size_t export_image_folder(const Dataset& data, const std::string& dir, const ExportOptions& opt);
// The folder name export_image_folder uses for a class name ("T-shirt/top" -> "T-shirt_top").
std::string safe_class_folder_name(const std::string& name);

class ImageFolderDataset : public Dataset {
 public:
  // name: shown by describe() ("Caltech-101 train"); classes: names of labels 0..K-1.
  ImageFolderDataset(std::string name, std::vector<ImageSample> samples, std::vector<std::string> classes,
                     const ImageTransform& transform, bool strict = false);

  size_t size() const override { return samples_.size(); }
  Shape sample_shape() const override;
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  std::vector<std::string> class_names() const override { return classes_; }
  int label(size_t i) const override { return samples_[i].label; }
  bool load(size_t i, float* out, bool augment, std::mt19937_64& rng) const override;
  std::string describe() const override;

  const std::vector<ImageSample>& samples() const { return samples_; }
  const ImageTransform& transform() const { return transform_; }
  // Not thread-safe: set these before the data set is handed to a Batcher.
  void set_transform(const ImageTransform& t);
  void set_strict(bool strict) { strict_ = strict; }
  bool strict() const { return strict_; }
  // Serves pixels from a cache built for exactly samples() (same order). Error if the counts
  // or the cached size do not match.
  void set_cache(std::shared_ptr<const ImageCache> cache);
  // Builds or reuses the cache file `path` for this data set (see ImageCache::open_or_build).
  void use_cache(const std::string& path, int threads);
  const ImageCache* cache() const { return cache_.get(); }

  // Decoded pixels of sample i before any transform (from the cache when there is one).
  // Error naming the file when it cannot be read.
  Image decode(size_t i) const;

  // Unreadable loads since construction or the last take_skipped() (each failure counts,
  // also of a file already warned about), and the distinct files that failed.
  size_t skipped() const { return skipped_.load(); }
  size_t take_skipped() { return skipped_.exchange(0); }
  std::vector<std::string> skipped_files() const;

  // Per-channel mean and standard deviation of pixels / 255 over up to max_samples images
  // spread evenly over the data set, after the evaluation geometry (for ImageTransform with
  // empty mean/std). Unreadable images are left out. Uses `threads` threads.
  void channel_stats(size_t max_samples, int threads, std::vector<float>* mean, std::vector<float>* stddev) const;

 private:
  void note_unreadable(size_t i, const std::string& why) const;

  std::string name_;
  std::vector<ImageSample> samples_;
  std::vector<std::string> classes_;
  ImageTransform transform_;
  bool strict_;
  std::shared_ptr<const ImageCache> cache_;
  mutable std::atomic<size_t> skipped_{0};
  mutable std::mutex warn_mu_;
  mutable std::set<size_t> warned_;
};

}  // namespace trim
