// test_image_fixtures.h - small image folders written on the fly for the image data set tests
// (PNG, JPEG and BMP through stb_image_write, via trim::write_image).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/image_decode.h"

namespace trim_test {

namespace fs = std::filesystem;

// A fresh folder under $TMPDIR, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "trim-images-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (fs::path(path_) / rel).string(); }

 private:
  std::string path_;
};

// A flat image of one grey level (all channels equal).
inline trim::Image flat_image(int w, int h, int channels, int level) {
  trim::Image img(w, h, channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) img.at(x, y, c) = static_cast<uint8_t>(level);
  return img;
}

// A smooth colour pattern: red follows x, green follows y, blue is their sum; deterministic.
inline trim::Image pattern_image(int w, int h, int channels, int seed = 0) {
  trim::Image img(w, h, channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int v[4] = {(x * 255) / std::max(1, w - 1), (y * 255) / std::max(1, h - 1), ((x + y + seed) * 7) % 256, 255};
      for (int c = 0; c < channels; ++c) img.at(x, y, c) = static_cast<uint8_t>(v[c]);
    }
  return img;
}

// Grey level that encodes a label so that a decoded (even JPEG-compressed) image tells which
// class it was written for: 20 + 2 * label, up to label 110.
inline int level_of(int label) { return 20 + 2 * label; }
inline int label_of_level(float level) { return static_cast<int>(std::lround((level - 20.f) / 2.f)); }

inline void write_bytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Writes root/<class>/img<k>.<ext> for every class, `per_class` images each, the grey level
// encoding the class's index in `classes` sorted (so a test can check the mapping).
inline void write_class_folders(const std::string& root, std::vector<std::string> classes, int per_class,
                                const std::string& ext, int w = 20, int h = 16, int channels = 3) {
  std::vector<std::string> sorted = classes;
  std::sort(sorted.begin(), sorted.end());
  for (size_t c = 0; c < sorted.size(); ++c) {
    fs::create_directories(fs::path(root) / sorted[c]);
    for (int k = 0; k < per_class; ++k)
      trim::write_image((fs::path(root) / sorted[c] / ("img" + std::to_string(k) + ext)).string(),
                        flat_image(w, h, channels, level_of(static_cast<int>(c))).view());
  }
}

}  // namespace trim_test
