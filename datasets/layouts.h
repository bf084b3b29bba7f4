// layouts.h - the ways people keep image data sets on disk, recognised and parsed into file
// lists with labels, plus a seeded split for folders that ship none.
//
//   image folder   root/<class>/<image>                     (torchvision ImageFolder)
//   train/test     root/train/<class>/..., root/val|test/<class>/...
//   ImageNet-1k    root/train/<wnid>/*.JPEG and root/val/ flat, labelled by a ground-truth
//                  file: LOC_val_solution.csv (Kaggle), "<file> <label>" lines (Caffe val.txt),
//                  or one label per line for the val images sorted by name
//   Caltech-101    root/101_ObjectCategories/<class>/ (BACKGROUND_Google left out by default)
//   Food-101       root/images/<class>/<id>.jpg with root/meta/train.txt and meta/test.txt
//
// Classes are always sorted by name; labels index that list. Every error names the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/image_folder.h"

namespace trim {

enum class ImageLayout { kImageFolder, kTrainTest, kImageNet, kCaltech101, kFood101 };

const char* layout_name(ImageLayout l);  // "image folder", "Caltech-101", ...

struct LayoutOptions {
  bool caltech_background = false;  // keep Caltech-101's BACKGROUND_Google as a 102nd class
  std::string val_labels;           // ImageNet flat val: label file (empty: look for known names)
};

struct LayoutSplits {
  ImageLayout layout = ImageLayout::kImageFolder;
  std::string root;                  // the folder holding the class folders of train
  std::vector<std::string> classes;  // sorted
  std::vector<ImageSample> train;
  std::vector<ImageSample> test;     // empty when the layout ships no test split
  bool has_test = false;
};

// What kind of folder root is (see the table above). Error naming root when it is missing.
ImageLayout detect_layout(const std::string& root);

// Detects the layout and reads it.
LayoutSplits read_layout(const std::string& root, const LayoutOptions& opt = {});

// A labelled folder (test/ or val/ with class sub-folders) mapped onto the training classes.
// Error naming the folder when it holds a class the training set lacks.
std::vector<ImageSample> read_class_folders_as(const std::string& dir, const std::vector<std::string>& classes);

// ImageNet flat val: every image in dir (sorted by name) labelled from label_file. Error naming
// the file when its entry count differs from the number of images, an image has no entry, or
// a label is neither a class name nor a 0-based class index.
std::vector<ImageSample> read_flat_val(const std::string& dir, const std::string& label_file,
                                       const std::vector<std::string>& classes);

// Food-101 split file (meta/train.txt): lines "<class>/<id>" naming images/<class>/<id>.jpg.
std::vector<ImageSample> read_food101_split(const std::string& root, const std::string& list_file,
                                            const std::vector<std::string>& classes);

// Seeded split stratified by class: within each class, a shuffled round(n*val_fraction) go to
// val and round(n*test_fraction) to test, keeping at least one sample of every class in
// train. Indices ascend within each part. The result depends only on labels, fractions and
// seed (own shuffle, not std::shuffle, so it is the same on every standard library).
struct SplitIndices {
  std::vector<size_t> train, val, test;
};
SplitIndices split_by_class(const std::vector<int>& labels, double val_fraction, double test_fraction, uint64_t seed);

}  // namespace trim
