// idx.h - the IDX format of MNIST and Fashion-MNIST (plain or .gz, read through zlib).
#pragma once

#include <memory>
#include <string>

#include "datasets/dataset.h"

namespace trim {

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct IdxOptions {
  int pad_crop = 2;   // training augmentation: random crop of the image padded by this many pixels
  bool flip = true;   // training augmentation: random horizontal flip
  // Normalisation (x/255 - mean) / std, the same for train and test: Fashion-MNIST's training-set
  // statistics by default.
  float mean = 0.2860f, std = 0.3530f;
};

// Reads an images file (magic 0x803, N x H x W uint8) and a labels file (magic 0x801, N uint8).
// Wrong magic, truncation, a count mismatch or a label >= classes: Error naming the file.
// Pixels are scaled to [0, 1] and normalised with opt.mean / opt.std.
std::shared_ptr<Dataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                  const std::string& name, std::vector<std::string> class_names,
                                  const IdxOptions& opt = IdxOptions());

// Fashion-MNIST from dir (train-images-idx3-ubyte[.gz] etc.), with its ten class names.
std::shared_ptr<Dataset> load_fashion_mnist(const std::string& dir, bool train, const IdxOptions& opt = IdxOptions());

// Reads a whole file, gunzipping when it starts with the gzip magic. Error names the file.
std::string read_maybe_gzip(const std::string& path);

}  // namespace trim
