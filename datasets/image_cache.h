// image_cache.h - decoded, resized images of one data set in one binary file.
//
// For small data sets read every epoch, decoding the same JPEGs again each epoch is wasted
// work. The cache holds every image already decoded to the model's channel count and resized
// so that its shorter side is the transform's `resize` (what evaluation does first anyway;
// training's random-resized crop then starts from that image instead of the original).
//
// File (little-endian): "TRIMIMC1", u32 version, u32 channels, u32 shorter side, u32 zero,
// u64 key, u64 count, then count entries {u64 offset, u32 width, u32 height} (width 0: the
// image could not be decoded when the cache was built), then the pixels. The key hashes the
// file list with each file's size and modification time, the channels and the size, so a
// changed data set is detected and the cache rebuilt. The file is written under a temporary
// name and renamed into place, so a crash never leaves a half-written cache behind; it is
// memory-mapped for reading, so it costs page cache, not heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/image_decode.h"

namespace trim {

class ImageCache {
 public:
  ~ImageCache();
  ImageCache(const ImageCache&) = delete;
  ImageCache& operator=(const ImageCache&) = delete;

  // Opens `path` when it exists and was built from the same files, channels and size;
  // otherwise decodes every file with `threads` threads and writes it there. Unreadable
  // images are recorded as such (get() returns false), never fatal. Error naming the path
  // when the cache cannot be written or read back.
  static std::shared_ptr<const ImageCache> open_or_build(const std::string& path, const std::vector<std::string>& files,
                                                         int channels, int shorter, int threads);
  // Opens an existing cache; Error naming the path when it is missing, corrupt or does not
  // match (files, channels, shorter).
  static std::shared_ptr<const ImageCache> open(const std::string& path, const std::vector<std::string>& files,
                                                int channels, int shorter);

  size_t size() const { return count_; }
  // Pixels of image i (valid while the cache lives); false if it could not be decoded.
  bool get(size_t i, ImageView* out) const;
  int channels() const { return channels_; }
  int shorter() const { return shorter_; }  // shorter side of every cached image
  size_t file_bytes() const { return map_bytes_; }
  size_t failed() const;  // images recorded as unreadable
  bool built_now() const { return built_now_; }  // true when this call decoded and wrote it
  const std::string& path() const { return path_; }

  // The key of a file list: hashes paths, sizes, modification times, channels and size.
  static uint64_t key_of(const std::vector<std::string>& files, int channels, int shorter);

 private:
  ImageCache() = default;
  static std::shared_ptr<ImageCache> map_file(const std::string& path, const std::vector<std::string>& files,
                                              int channels, int shorter);
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t map_bytes_ = 0;
  size_t count_ = 0;
  int channels_ = 0;
  int shorter_ = 0;
  const uint8_t* table_ = nullptr;
  bool built_now_ = false;
};

}  // namespace trim
