// Tests of datasets/image_folder: scanning root/<class>/<image>, class order and labels, the
// handling of every kind of bad input (skip + warning + count, or an Error in strict mode),
// determinism and thread safety of load().
#include "datasets/image_folder.h"

#include <gtest/gtest.h>

#include <thread>

#include <filesystem>

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

ImageTransform raw_transform(int size, int channels) {  // out = pixel / 255, no augmentation
  ImageTransform t = ImageTransform::sized(size, channels);
  t.mean.assign(size_t(channels), 0.f);
  t.stddev.assign(size_t(channels), 1.f);
  t.pad_crop = 0;
  t.hflip = false;
  return t;
}

float mean_of(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return float(s / v.size());
}

}  // namespace

TEST(ImageFolder, ThreeClassesSortedByNameWithTheirImages) {
  TempDir dir;
  // Written out of order and with mixed case: bytewise sort puts capitals first (like Python).
  trim_test::write_class_folders(dir.path(), {"zebra", "Apple", "mango"}, 4, ".png");
  SampleList list = scan_image_folder(dir.path());
  ASSERT_EQ(list.classes, (std::vector<std::string>{"Apple", "mango", "zebra"}));
  ASSERT_EQ(list.samples.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(list.samples[i].label, int(i / 4));
    EXPECT_NE(list.samples[i].path.find(list.classes[i / 4]), std::string::npos);
  }
  ImageFolderDataset d("three", list.samples, list.classes, raw_transform(16, 3));
  EXPECT_EQ(d.size(), 12u);
  EXPECT_EQ(d.num_classes(), 3);
  EXPECT_EQ(d.sample_shape(), (Shape{3, 16, 16}));
  std::vector<float> out(3 * 16 * 16);
  std::mt19937_64 rng(0);
  for (size_t i = 0; i < d.size(); ++i) {
    ASSERT_TRUE(d.load(i, out.data(), false, rng));
    // The grey level written for each class comes back: labels map to the right folders.
    EXPECT_EQ(trim_test::label_of_level(mean_of(out) * 255.f), d.label(i)) << d.samples()[i].path;
  }
  EXPECT_EQ(d.skipped(), 0u);
  EXPECT_NE(d.describe().find("12 images, 3 classes"), std::string::npos) << d.describe();
}

TEST(ImageFolder, ExtensionsInAnyCaseNestedFoldersAndIgnoredFiles) {
  TempDir dir;
  Image img = trim_test::flat_image(8, 8, 3, 100);
  std::filesystem::create_directories(dir / "cat");
  write_image(dir / "cat/a.JPG", img.view());
  write_image(dir / "cat/b.Png", img.view());
  write_image(dir / "cat/c.jpeg", img.view());
  write_image(dir / "cat/d.BMP", img.view());
  std::filesystem::create_directories(dir / "cat/sub");
  write_image(dir / "cat/sub/e.png", img.view());  // torchvision walks class folders recursively
  std::filesystem::create_directories(dir / "dog");
  write_image(dir / "dog/a.png", img.view());
  trim_test::write_bytes(dir / "dog/readme.txt", "not an image");
  trim_test::write_bytes(dir / "dog/.DS_Store", "junk");
  std::filesystem::create_directories(dir / ".hidden");
  write_image(dir / ".hidden/x.png", img.view());
  trim_test::write_bytes(dir / "loose.png", "");  // files directly in root belong to no class

  testing::internal::CaptureStderr();
  SampleList list = scan_image_folder(dir.path());
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(list.classes, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(list.samples.size(), 6u);
  EXPECT_NE(err.find("readme.txt"), std::string::npos) << err;  // one warning, naming a file
}

TEST(ImageFolder, FolderErrorsNameThePath) {
  TempDir dir;
  expect_error_naming([&] { scan_image_folder(dir / "nope"); }, dir / "nope");
  expect_error_naming([&] { scan_image_folder(dir.path()); }, "no class folders");
  trim_test::write_class_folders(dir.path(), {"a", "b"}, 2, ".png");
  std::filesystem::create_directories(dir / "empty_class");
  trim_test::write_bytes(dir / "empty_class/notes.txt", "no images here");
  expect_error_naming([&] { scan_image_folder(dir.path()); }, dir / "empty_class");
  trim_test::write_bytes(dir / "file_root", "x");
  expect_error_naming([&] { scan_image_folder(dir / "file_root"); }, "not a folder");
  // Excluding the empty one makes the folder usable again.
  EXPECT_EQ(scan_image_folder(dir.path(), {"empty_class"}).classes.size(), 2u);
}

TEST(ImageFolder, SymlinkLoopsAndSecondLinksToAFolderAreErrors) {
  Image img = trim_test::flat_image(8, 8, 3, 100);
  {  // A link back to the root: followed before, ~40 levels deep, every image many times over.
    TempDir dir;
    trim_test::write_class_folders(dir.path(), {"a", "b"}, 2, ".png");
    fs::create_directory_symlink(dir.path(), dir / "a/loop");
    expect_error_naming([&] { scan_image_folder(dir.path()); }, "symbolic link loop");
  }
  {  // A link from one class into another: the same images under two labels.
    TempDir dir;
    trim_test::write_class_folders(dir.path(), {"a", "b"}, 2, ".png");
    fs::create_directory_symlink(dir / "b", dir / "a/also_b");
    expect_error_naming([&] { scan_image_folder(dir.path()); }, dir / "b");
  }
  {  // A link to itself and a dangling link.
    TempDir dir;
    trim_test::write_class_folders(dir.path(), {"a"}, 2, ".png");
    fs::create_directory_symlink(dir / "a/self", dir / "a/self");
    fs::create_directory_symlink(dir / "nowhere", dir / "a/dangling");
    EXPECT_EQ(scan_image_folder(dir.path()).samples.size(), 2u);  // neither is a folder: skipped
  }
  {  // A link to a folder outside the root, once: followed (data sets are often linked in).
    TempDir dir, elsewhere;
    trim_test::write_class_folders(dir.path(), {"a", "b"}, 2, ".png");
    fs::create_directories(elsewhere / "more");
    write_image(elsewhere / "more/x.png", img.view());
    fs::create_directory_symlink(elsewhere / "more", dir / "a/more");
    EXPECT_EQ(scan_image_folder(dir.path()).samples.size(), 5u);
    fs::create_directory_symlink(elsewhere / "more", dir / "b/more_again");
    expect_error_naming([&] { scan_image_folder(dir.path()); }, "a second link to it");
  }
}

TEST(ImageFolder, ClassFolderNamesThatNameClassesCannotHoldAreErrors) {
  for (const std::string& name : {std::string("two\nlines"), std::string("tab\tin"), std::string("trailing ")}) {
    TempDir dir;
    trim_test::write_class_folders(dir.path(), {"a", name}, 1, ".png");
    expect_error_naming([&] { scan_image_folder(dir.path()); }, "class name");
  }
  TempDir dir;  // spaces and UTF-8 inside a name are fine
  trim_test::write_class_folders(dir.path(), {"golden retriever", "caf\xc3\xa9"}, 1, ".png");
  EXPECT_EQ(scan_image_folder(dir.path()).classes.size(), 2u);
}

TEST(ImageFolder, BadImagesAreSkippedWarnedAndCounted) {
  TempDir dir;
  trim_test::write_class_folders(dir.path(), {"a", "b"}, 2, ".png");
  Image good = trim_test::pattern_image(16, 16, 3);
  write_image(dir / "a/full.jpg", good.view());
  std::string jpg = trim_test::read_all(dir / "a/full.jpg");
  trim_test::write_bytes(dir / "a/truncated.jpg", jpg.substr(0, jpg.size() / 2));
  trim_test::write_bytes(dir / "a/zero.png", "");
  trim_test::write_bytes(dir / "b/text.jpg", "hello, I am a text file\n");
  trim_test::write_bytes(dir / "b/garbage.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, '\x07'));
  SampleList list = scan_image_folder(dir.path());
  ASSERT_EQ(list.samples.size(), 9u);
  ImageFolderDataset d("bad", list.samples, list.classes, raw_transform(16, 3));
  std::vector<std::string> bad = {dir / "a/truncated.jpg", dir / "a/zero.png", dir / "b/text.jpg", dir / "b/garbage.png"};

  std::vector<float> out(3 * 16 * 16);
  std::mt19937_64 rng(0);
  auto load_all = [&]() -> size_t {
    size_t failed = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      std::fill(out.begin(), out.end(), 7.f);
      bool ok = d.load(i, out.data(), true, rng);
      bool is_bad = std::find(bad.begin(), bad.end(), d.samples()[i].path) != bad.end();
      EXPECT_EQ(ok, !is_bad) << d.samples()[i].path;
      if (!ok) {
        ++failed;
        EXPECT_EQ(std::count(out.begin(), out.end(), 0.f), long(out.size())) << "not zero-filled";
      }
    }
    return failed;
  };
  testing::internal::CaptureStderr();
  EXPECT_EQ(load_all(), 4u);
  std::string first = testing::internal::GetCapturedStderr();
  for (const std::string& b : bad) EXPECT_NE(first.find(b), std::string::npos) << "no warning naming " << b << ":\n" << first;
  EXPECT_EQ(d.skipped(), 4u);
  EXPECT_EQ(d.skipped_files().size(), 4u);

  // Second epoch: counted again, but each file is warned about only once.
  testing::internal::CaptureStderr();
  EXPECT_EQ(load_all(), 4u);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(d.take_skipped(), 8u);
  EXPECT_EQ(d.skipped(), 0u);

  // Strict: the first bad file is an Error naming it.
  d.set_strict(true);
  for (const std::string& b : bad) {
    size_t i = size_t(std::find_if(d.samples().begin(), d.samples().end(),
                                   [&](const ImageSample& s) { return s.path == b; }) - d.samples().begin());
    expect_error_naming([&] { d.load(i, out.data(), false, rng); }, b);
  }
  EXPECT_EQ(d.skipped(), 0u);
}

TEST(ImageFolder, LoadsAreDeterministicAcrossThreads) {
  TempDir dir;
  for (int c = 0; c < 3; ++c) {
    std::filesystem::create_directories(dir / ("c" + std::to_string(c)));
    for (int k = 0; k < 6; ++k)
      write_image(dir / ("c" + std::to_string(c) + "/" + std::to_string(k) + ".jpg"),
                  trim_test::pattern_image(60 + 7 * k, 40 + 3 * c, 3, k + c).view());
  }
  SampleList list = scan_image_folder(dir.path());
  ImageTransform t;  // ImageNet recipe at a small size
  t.resize = 36;
  t.crop = 32;
  ImageFolderDataset d("det", list.samples, list.classes, t);
  const size_t n = d.size(), len = 3 * 32 * 32;
  auto run = [&](size_t begin, size_t step, std::vector<std::vector<float>>* outs) {
    for (size_t i = begin; i < n; i += step) {
      std::mt19937_64 rng(1000 + i);  // per-sample seed, as the batcher derives it
      (*outs)[i].resize(len);
      ASSERT_TRUE(d.load(i, (*outs)[i].data(), true, rng));
    }
  };
  std::vector<std::vector<float>> serial(n), parallel(n);
  run(0, 1, &serial);
  std::thread a([&] { run(0, 2, &parallel); }), b([&] { run(1, 2, &parallel); });
  a.join();
  b.join();
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(serial[i], parallel[i]) << i;
  // Different samples, different augmentations: not all the same picture.
  EXPECT_NE(serial[0], serial[1]);
}

TEST(ImageFolder, DecodeAndStatistics) {
  TempDir dir;
  trim_test::write_class_folders(dir.path(), {"dark", "light"}, 3, ".png", 10, 10, 1);
  SampleList list = scan_image_folder(dir.path());
  ImageFolderDataset d("stats", list.samples, list.classes, ImageTransform::sized(10, 1));
  Image img = d.decode(0);
  EXPECT_EQ(img.width, 10);
  EXPECT_EQ(img.channels, 1);
  std::vector<float> mean, sd;
  d.channel_stats(100, 2, &mean, &sd);
  // Levels 20 ("dark") and 22 ("light"), three images each.
  double m = (20 + 22) / 2.0 / 255.0, s = 1.0 / 255.0;
  ASSERT_EQ(mean.size(), 1u);
  EXPECT_NEAR(mean[0], m, 1e-6);
  EXPECT_NEAR(sd[0], s, 1e-5);
  EXPECT_THROW(d.decode(99), Error);
}

namespace {

// A data set of known pixels: sample i of class i % 3 has pixel (x, y) = 10 * i + x + y.
class FakeDataset : public Dataset {
 public:
  FakeDataset(int channels, std::vector<std::string> names) : channels_(channels), names_(std::move(names)) {}
  size_t size() const override { return 9; }
  Shape sample_shape() const override { return Shape{channels_, 5, 6}; }
  int num_classes() const override { return static_cast<int>(names_.size()); }
  std::vector<std::string> class_names() const override { return names_; }
  int label(size_t i) const override { return static_cast<int>(i % 3); }
  static int pixel(size_t i, int x, int y, int c) { return int(10 * i) + x + y + 40 * c; }
  bool load(size_t i, float* out, bool, std::mt19937_64&) const override {
    for (int c = 0; c < channels_; ++c)
      for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 6; ++x) out[(c * 5 + y) * 6 + x] = (pixel(i, x, y, c) / 255.f - 0.5f) / 0.25f;
    return true;
  }
  std::string describe() const override { return "fake"; }

 private:
  int channels_;
  std::vector<std::string> names_;
};

}  // namespace

TEST(ImageFolderExport, WritesLosslessFoldersThatReadBack) {
  TempDir dir;
  FakeDataset fake(3, {"T-shirt/top", "..", "a b"});
  ExportOptions e;
  e.mean = 0.5f;
  e.std = 0.25f;
  EXPECT_EQ(export_image_folder(fake, dir / "all", e), 9u);
  SampleList list = scan_image_folder(dir / "all");
  EXPECT_EQ(list.classes, (std::vector<std::string>{"T-shirt_top", "_..", "a_b"}));  // bytewise: T < _ < a
  ASSERT_EQ(list.samples.size(), 9u);
  for (const ImageSample& s : list.samples) {
    size_t i = size_t(std::stoi(fs::path(s.path).stem().string()));
    EXPECT_EQ(safe_class_folder_name(fake.class_names()[i % 3]), list.classes[size_t(s.label)]);
    Image img = read_image(s.path, 3);
    ASSERT_EQ(img.width, 6);
    ASSERT_EQ(img.height, 5);
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 6; ++x)
        for (int c = 0; c < 3; ++c) ASSERT_EQ(img.at(x, y, c), FakeDataset::pixel(i, x, y, c)) << s.path;
  }
  // A subset of classes with a per-class limit, as JPEG.
  e.classes = {0, 2};
  e.limit = 2;
  e.format = "jpg";
  EXPECT_EQ(export_image_folder(fake, dir / "some", e), 4u);
  EXPECT_EQ(scan_image_folder(dir / "some").classes, (std::vector<std::string>{"T-shirt_top", "a_b"}));
  // Never into a folder that already holds an export.
  try {
    export_image_folder(fake, dir / "some", e);
    ADD_FAILURE() << "exported into a non-empty folder";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find(dir / "some"), std::string::npos) << err.what();
  }
  e.classes = {5};
  EXPECT_THROW(export_image_folder(fake, dir / "bad", e), Error);
}
