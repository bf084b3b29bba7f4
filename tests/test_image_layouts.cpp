// Tests of datasets/layouts: detection and parsing of Caltech-101 (101 classes), Food-101,
// ImageNet-style train + flat val with each label-file form, train/test folders, and the
// seeded stratified split.
#include "datasets/layouts.h"

#include <gtest/gtest.h>

#include <set>

#include "framework/tensor.h"
#include "tests/test_image_fixtures.h"

using namespace trim;
using trim_test::TempDir;
namespace fs = std::filesystem;

namespace {

template <class F>
void expect_error_naming(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no trim::Error thrown; expected one naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what() << "\nwanted: " << needle;
  }
}

std::vector<std::string> class_names(int n, const std::string& prefix) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%03d", prefix.c_str(), i);
    v.push_back(b);
  }
  return v;
}

// ImageNet-style root: train/<wnid>/k.JPEG, val/ILSVRC2012_val_<n>.JPEG with the level of the
// true class, returning the true class index of each val image in name order.
std::vector<int> write_imagenet(const std::string& root, int classes, int per_class, int val_images) {
  auto wnids = class_names(classes, "n0");
  trim_test::write_class_folders(root + "/train", wnids, per_class, ".JPEG", 12, 10);
  fs::create_directories(root + "/val");
  std::vector<int> truth;
  for (int i = 0; i < val_images; ++i) {
    int label = (i * 7 + 3) % classes;
    char name[64];
    std::snprintf(name, sizeof name, "/val/ILSVRC2012_val_%08d.JPEG", i + 1);
    write_image(root + name, trim_test::flat_image(12, 10, 3, trim_test::level_of(label)).view());
    truth.push_back(label);
  }
  return truth;
}

void expect_labels(const std::vector<ImageSample>& val, const std::vector<int>& truth) {
  ASSERT_EQ(val.size(), truth.size());
  for (const ImageSample& s : val) {
    int n = std::stoi(s.path.substr(s.path.size() - 13, 8));  // ..._000000NN.JPEG
    EXPECT_EQ(s.label, truth[size_t(n - 1)]) << s.path;
  }
}

}  // namespace

TEST(Layouts, Caltech101LeavesOutBackground) {
  TempDir dir;
  const std::string cat = dir / "101_ObjectCategories";
  std::vector<std::string> classes = class_names(101, "obj");
  classes.push_back("BACKGROUND_Google");
  trim_test::write_class_folders(cat, classes, 2, ".jpg", 10, 8);
  EXPECT_EQ(detect_layout(dir.path()), ImageLayout::kCaltech101);
  EXPECT_EQ(detect_layout(cat), ImageLayout::kCaltech101);  // pointing at the class folder root
  LayoutSplits s = read_layout(dir.path());
  EXPECT_EQ(s.root, cat);
  ASSERT_EQ(s.classes.size(), 101u);
  EXPECT_EQ(std::count(s.classes.begin(), s.classes.end(), "BACKGROUND_Google"), 0);
  EXPECT_EQ(s.train.size(), 202u);
  EXPECT_FALSE(s.has_test);
  for (const ImageSample& x : s.train) EXPECT_NE(x.path.find(s.classes[size_t(x.label)] + "/"), std::string::npos);

  LayoutOptions keep;
  keep.caltech_background = true;
  LayoutSplits b = read_layout(dir.path(), keep);
  EXPECT_EQ(b.classes.size(), 102u);
  EXPECT_EQ(b.classes.front(), "BACKGROUND_Google");  // capitals sort first
}

TEST(Layouts, Food101FollowsTheMetaLists) {
  TempDir dir;
  const std::vector<std::string> classes = {"apple_pie", "baklava", "ramen"};
  for (size_t c = 0; c < classes.size(); ++c) {
    fs::create_directories(dir / ("images/" + classes[c]));
    for (int k = 0; k < 5; ++k)
      write_image(dir / ("images/" + classes[c] + "/" + std::to_string(100 + k) + ".jpg"),
                  trim_test::flat_image(8, 8, 3, trim_test::level_of(int(c))).view());
  }
  std::string train, test;
  for (const std::string& c : classes) {
    for (int k = 0; k < 3; ++k) train += c + "/" + std::to_string(100 + k) + "\n";
    for (int k = 3; k < 5; ++k) test += c + "/" + std::to_string(100 + k) + "\r\n";  // CRLF too
  }
  trim_test::write_bytes(dir / "meta/train.txt", train);
  trim_test::write_bytes(dir / "meta/test.txt", test);
  EXPECT_EQ(detect_layout(dir.path()), ImageLayout::kFood101);
  LayoutSplits s = read_layout(dir.path());
  EXPECT_EQ(s.classes, classes);
  ASSERT_EQ(s.train.size(), 9u);
  ASSERT_EQ(s.test.size(), 6u);
  EXPECT_TRUE(s.has_test);
  EXPECT_EQ(s.train[4].label, 1);
  EXPECT_EQ(s.train[4].path, dir / "images/baklava/101.jpg");
  EXPECT_EQ(s.test[5].path, dir / "images/ramen/104.jpg");

  trim_test::write_bytes(dir / "meta/test.txt", test + "ramen/999\n");
  expect_error_naming([&] { read_layout(dir.path()); }, "ramen/999.jpg");
  trim_test::write_bytes(dir / "meta/test.txt", test + "no-slash-here\n");
  expect_error_naming([&] { read_layout(dir.path()); }, dir / "meta/test.txt");
  fs::remove(dir / "meta/test.txt");
  expect_error_naming([&] { read_layout(dir.path()); }, dir / "meta/test.txt");
}

TEST(Layouts, ImageNetFlatValWithEachLabelForm) {
  TempDir dir;
  std::vector<int> truth = write_imagenet(dir.path(), 5, 2, 9);
  auto wnids = class_names(5, "n0");
  EXPECT_EQ(detect_layout(dir.path()), ImageLayout::kImageNet);
  // No label file anywhere: an error that says what to provide.
  expect_error_naming([&] { read_layout(dir.path()); }, "LOC_val_solution.csv");

  // 1. One label per line (0-based class index), for the val images sorted by name.
  std::string plain;
  for (int l : truth) plain += std::to_string(l) + "\n";
  trim_test::write_bytes(dir / "val_labels.txt", plain);
  LayoutSplits s = read_layout(dir.path());
  EXPECT_EQ(s.classes, wnids);
  EXPECT_EQ(s.train.size(), 10u);
  EXPECT_TRUE(s.has_test);
  expect_labels(s.test, truth);
  fs::remove(dir / "val_labels.txt");

  // 2. Kaggle's LOC_val_solution.csv: rows in any order, wnid first in the prediction string.
  std::string csv = "ImageId,PredictionString\n";
  for (int i = int(truth.size()) - 1; i >= 0; --i) {
    char id[40];
    std::snprintf(id, sizeof id, "ILSVRC2012_val_%08d", i + 1);
    csv += std::string(id) + "," + wnids[size_t(truth[size_t(i)])] + " 1 2 30 40 " + wnids[0] + " 5 6 7 8\n";
  }
  trim_test::write_bytes(dir / "LOC_val_solution.csv", csv);
  expect_labels(read_layout(dir.path()).test, truth);
  fs::remove(dir / "LOC_val_solution.csv");

  // 3. Caffe's val.txt, "<file> <label>", given explicitly from another place.
  std::string caffe;
  for (size_t i = 0; i < truth.size(); ++i) {
    char id[48];
    std::snprintf(id, sizeof id, "ILSVRC2012_val_%08zu.JPEG", i + 1);
    caffe += std::string(id) + " " + (i % 2 ? wnids[size_t(truth[i])] : std::to_string(truth[i])) + "\n";
  }
  trim_test::write_bytes(dir / "elsewhere/my_val.txt", caffe);
  LayoutOptions o;
  o.val_labels = dir / "elsewhere/my_val.txt";
  expect_labels(read_layout(dir.path(), o).test, truth);
}

TEST(Layouts, ImageNetLabelFileMistakesNameTheFile) {
  TempDir dir;
  std::vector<int> truth = write_imagenet(dir.path(), 4, 1, 6);
  auto wnids = class_names(4, "n0");
  const std::string f = dir / "val.txt";
  std::string plain;
  for (int l : truth) plain += std::to_string(l) + "\n";

  trim_test::write_bytes(f, plain.substr(0, plain.rfind('\n', plain.size() - 2) + 1));  // one line short
  expect_error_naming([&] { read_layout(dir.path()); }, f);
  expect_error_naming([&] { read_layout(dir.path()); }, "5 labels for 6 images");

  trim_test::write_bytes(f, plain + "0\n");  // one too many
  expect_error_naming([&] { read_layout(dir.path()); }, "7 labels for 6 images");

  trim_test::write_bytes(f, "0\n1\n2\n3\n0\n9\n");  // class 9 of 4
  expect_error_naming([&] { read_layout(dir.path()); }, f + ":6");

  trim_test::write_bytes(f, "0\n1\nn0999\n3\n0\n1\n");  // unknown wnid
  expect_error_naming([&] { read_layout(dir.path()); }, "n0999");

  std::string keyed;
  for (int i = 1; i <= 6; ++i) keyed += "ILSVRC2012_val_0000000" + std::to_string(i == 6 ? 5 : i) + ".JPEG 0\n";
  trim_test::write_bytes(f, keyed);  // image 5 twice, image 6 never
  expect_error_naming([&] { read_layout(dir.path()); }, "second label");

  trim_test::write_bytes(f, "0\n1 extra\n2\n3\n0\n1\n");  // mixed forms
  expect_error_naming([&] { read_layout(dir.path()); }, f + ":2");
}

TEST(Layouts, TrainAndTestClassFolders) {
  TempDir dir;
  trim_test::write_class_folders(dir / "train", {"ant", "bee", "cow"}, 3, ".png");
  // The test side lacks "ant": labels still follow the training classes.
  fs::create_directories(dir / "test/bee");
  fs::create_directories(dir / "test/cow");
  write_image(dir / "test/bee/x.png", trim_test::flat_image(4, 4, 3, 1).view());
  write_image(dir / "test/cow/y.png", trim_test::flat_image(4, 4, 3, 2).view());
  EXPECT_EQ(detect_layout(dir.path()), ImageLayout::kTrainTest);
  LayoutSplits s = read_layout(dir.path());
  EXPECT_EQ(s.classes.size(), 3u);
  EXPECT_EQ(s.train.size(), 9u);
  ASSERT_EQ(s.test.size(), 2u);
  EXPECT_EQ(s.test[0].label, 1);
  EXPECT_EQ(s.test[1].label, 2);

  fs::create_directories(dir / "test/dog");
  write_image(dir / "test/dog/z.png", trim_test::flat_image(4, 4, 3, 2).view());
  expect_error_naming([&] { read_layout(dir.path()); }, dir / "test/dog");

  // A plain folder is a plain folder; a missing root is an error naming it.
  EXPECT_EQ(detect_layout(dir / "train"), ImageLayout::kImageFolder);
  expect_error_naming([&] { detect_layout(dir / "missing"); }, dir / "missing");
}

TEST(Layouts, StratifiedSeededSplit) {
  std::vector<int> labels;
  for (int c = 0; c < 4; ++c)
    for (int k = 0; k < 10 + 5 * c; ++k) labels.push_back(c);  // 10, 15, 20, 25 per class
  SplitIndices a = split_by_class(labels, 0.1, 0.2, 7), b = split_by_class(labels, 0.1, 0.2, 7),
               c = split_by_class(labels, 0.1, 0.2, 8);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.test, c.test);  // another seed, another split
  // Disjoint, covering, per class round(n * fraction).
  std::set<size_t> all;
  for (auto* part : {&a.train, &a.val, &a.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    all.insert(part->begin(), part->end());
  }
  EXPECT_EQ(all.size(), labels.size());
  EXPECT_EQ(a.train.size() + a.val.size() + a.test.size(), labels.size());
  for (int cls = 0; cls < 4; ++cls) {
    long n = 10 + 5 * cls;
    auto count = [&](const std::vector<size_t>& v) {
      return std::count_if(v.begin(), v.end(), [&](size_t i) { return labels[i] == cls; });
    };
    EXPECT_EQ(count(a.test), std::lround(n * 0.2)) << cls;
    EXPECT_EQ(count(a.val), std::lround(n * 0.1)) << cls;
  }
  // Tiny classes keep one training image.
  SplitIndices t = split_by_class({0, 1, 1, 2, 2, 2}, 0.0, 0.9, 1);
  std::set<int> train_classes;
  for (size_t i : t.train) train_classes.insert(std::vector<int>{0, 1, 1, 2, 2, 2}[i]);
  EXPECT_EQ(train_classes.size(), 3u);
  EXPECT_THROW(split_by_class(labels, 0.5, 0.5, 1), Error);
}
