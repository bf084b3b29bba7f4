// Tests of datasets/open_dataset: the one factory tools call. Layout detection through to
// train/test data sets, the carved split, automatic size/channels/statistics, strict mode,
// the cache, and that a folder of PNGs exported from IDX data feeds a model exactly the same
// tensors as the IDX reader does.
#include "datasets/open_dataset.h"

#include <gtest/gtest.h>

#include <map>

#include "datasets/idx.h"
#include "datasets/image_folder.h"
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

std::map<int, int> label_counts(const Dataset& d) {
  std::map<int, int> m;
  for (size_t i = 0; i < d.size(); ++i) ++m[d.label(i)];
  return m;
}

void put_be32(std::string* s, uint32_t v) {
  for (int sh = 24; sh >= 0; sh -= 8) s->push_back(char(uint8_t(v >> sh)));
}

}  // namespace

TEST(OpenImageDataset, SmallGreyFolderGetsItsOwnSizeChannelsAndSplit) {
  TempDir dir;
  trim_test::write_class_folders(dir.path(), {"coat", "bag", "shirt"}, 10, ".png", 28, 28, 1);
  ImageOptions opt;  // defaults: ImageNet recipe unless the images say otherwise
  DataSplits s = open_image_dataset(dir.path(), opt);
  ASSERT_TRUE(s.train && s.test);
  EXPECT_EQ(s.train->sample_shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(s.test->sample_shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(s.train->class_names(), (std::vector<std::string>{"bag", "coat", "shirt"}));
  EXPECT_EQ(label_counts(*s.train), (std::map<int, int>{{0, 8}, {1, 8}, {2, 8}}));
  EXPECT_EQ(label_counts(*s.test), (std::map<int, int>{{0, 2}, {1, 2}, {2, 2}}));
  EXPECT_NE(s.layout.find("image folder"), std::string::npos) << s.layout;
  // Same seed, same split; train and test disjoint.
  DataSplits again = open_image_dataset(dir.path(), opt);
  auto& tr = dynamic_cast<ImageFolderDataset&>(*s.train);
  auto& te = dynamic_cast<ImageFolderDataset&>(*s.test);
  auto& tr2 = dynamic_cast<ImageFolderDataset&>(*again.train);
  for (size_t i = 0; i < tr.size(); ++i) {
    EXPECT_EQ(tr.samples()[i].path, tr2.samples()[i].path);
    for (const ImageSample& t : te.samples()) EXPECT_NE(tr.samples()[i].path, t.path);
  }
  // Statistics estimated from the training images (levels 20, 22, 24 for the three classes).
  ASSERT_EQ(tr.transform().mean.size(), 1u);
  EXPECT_NEAR(tr.transform().mean[0], 22 / 255.0, 1e-5);
  EXPECT_EQ(te.transform().mean, tr.transform().mean);  // test uses train's statistics
  // Normalised: the mean of a training batch is about 0.
  double sum = 0;
  std::vector<float> out(28 * 28);
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < tr.size(); ++i) {
    ASSERT_TRUE(tr.load(i, out.data(), false, rng));
    for (float v : out) sum += v;
  }
  EXPECT_NEAR(sum / (tr.size() * 28.0 * 28.0), 0.0, 1e-3);

  ImageOptions none = opt;
  none.test_fraction = 0;
  DataSplits n = open_image_dataset(dir.path(), none);
  EXPECT_EQ(n.train->size(), 30u);
  EXPECT_EQ(n.test, nullptr);
  ImageOptions other = opt;
  other.split_seed = 2;
  DataSplits s3 = open_image_dataset(dir.path(), other);  // kept: the reference below points into it
  auto& tr3 = dynamic_cast<ImageFolderDataset&>(*s3.train);
  bool differs = false;
  for (size_t i = 0; i < tr.size(); ++i) differs |= tr.samples()[i].path != tr3.samples()[i].path;
  EXPECT_TRUE(differs);
}

TEST(OpenImageDataset, HundredAndOneClassesOfJpegs) {
  TempDir dir;
  std::vector<std::string> classes;
  for (int c = 0; c < 101; ++c) classes.push_back("class_" + std::to_string(c));
  trim_test::write_class_folders(dir.path(), classes, 5, ".jpg", 16, 12);
  ImageOptions opt;
  DataSplits s = open_image_dataset(dir.path(), opt);
  EXPECT_EQ(s.train->num_classes(), 101);
  EXPECT_EQ(s.train->size(), 404u);  // 4 of 5 per class
  EXPECT_EQ(s.test->size(), 101u);
  EXPECT_EQ(s.train->sample_shape(), (Shape{3, 12, 12}));  // tiny and uniform: own size
  // Every sample's pixels carry the level of its class (JPEG keeps a flat grey exactly enough).
  auto& tr = dynamic_cast<ImageFolderDataset&>(*s.train);
  ImageTransform raw = tr.transform();
  raw.mean = {0, 0, 0};
  raw.stddev = {1, 1, 1};
  tr.set_transform(raw);
  std::vector<float> out(3 * 12 * 12);
  std::mt19937_64 rng(0);
  for (size_t i = 0; i < tr.size(); i += 7) {
    ASSERT_TRUE(tr.load(i, out.data(), false, rng));
    double m = 0;
    for (float v : out) m += v;
    m /= out.size();
    int label = trim_test::label_of_level(float(m * 255));
    EXPECT_EQ(tr.class_names()[size_t(label)], tr.class_names()[size_t(tr.label(i))]) << tr.samples()[i].path;
  }
}

TEST(OpenImageDataset, LargeImagesGetTheImageNetRecipeOrTheGivenSize) {
  TempDir dir;
  trim_test::write_class_folders(dir / "train", {"x", "y"}, 2, ".jpg", 90, 70);
  trim_test::write_class_folders(dir / "val", {"x", "y"}, 1, ".jpg", 70, 90);
  ImageOptions opt;
  DataSplits s = open_image_dataset(dir.path(), opt);
  EXPECT_EQ(s.train->sample_shape(), (Shape{3, 224, 224}));
  EXPECT_EQ(s.train->size(), 4u);
  EXPECT_EQ(s.test->size(), 2u);  // shipped val/: nothing carved
  opt.set_size(128);  // MobileNet 0.25/128: 128 crop from 146
  DataSplits sized = open_image_dataset(dir.path(), opt);
  auto& tr = dynamic_cast<ImageFolderDataset&>(*sized.train);
  EXPECT_EQ(tr.transform().crop, 128);
  EXPECT_EQ(tr.transform().resize, 146);
  EXPECT_TRUE(tr.transform().random_resized_crop);
  opt.set_channels(1);
  EXPECT_EQ(open_image_dataset(dir.path(), opt).train->sample_shape(), (Shape{1, 128, 128}));
  std::vector<float> out(128 * 128);
  std::mt19937_64 rng(3);
  EXPECT_TRUE(open_image_dataset(dir.path(), opt).train->load(0, out.data(), true, rng));
}

TEST(OpenImageDataset, ErrorsStrictModeAndCache) {
  TempDir dir;
  expect_error_naming([&] { open_image_dataset(dir / "missing", ImageOptions()); }, dir / "missing");
  trim_test::write_class_folders(dir / "d", {"a", "b"}, 5, ".png", 20, 20);
  fs::create_directories(dir / "d/c");
  expect_error_naming([&] { open_image_dataset(dir / "d", ImageOptions()); }, dir / "d/c");
  fs::remove(dir / "d/c");
  trim_test::write_bytes(dir / "d/a/zzz_broken.jpg", "");

  ImageOptions opt;
  opt.test_fraction = 0;
  opt.strict = true;
  DataSplits s = open_image_dataset(dir / "d", opt);
  std::vector<float> out(s.train->sample_shape().numel());
  std::mt19937_64 rng(0);
  size_t broken = 5;  // a's images: img0..img4, then zzz_broken
  expect_error_naming([&] { s.train->load(broken, out.data(), true, rng); }, dir / "d/a/zzz_broken.jpg");

  opt.strict = false;
  opt.cache = true;
  opt.cache_dir = dir / "cache";
  testing::internal::CaptureStderr();
  DataSplits c = open_image_dataset(dir / "d", opt);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("built image cache"), std::string::npos) << err;
  ASSERT_EQ(std::distance(fs::directory_iterator(dir / "cache"), fs::directory_iterator()), 1);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(c.train->load(broken, out.data(), true, rng));
  EXPECT_TRUE(c.train->load(0, out.data(), true, rng));
  EXPECT_NE(testing::internal::GetCapturedStderr().find("zzz_broken.jpg"), std::string::npos);
  testing::internal::CaptureStderr();
  open_image_dataset(dir / "d", opt);  // reused: nothing built
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  // Default cache place: a hidden folder in the root, which the scan does not take for a class.
  opt.cache_dir.clear();
  testing::internal::CaptureStderr();
  DataSplits d = open_image_dataset(dir / "d", opt);
  testing::internal::GetCapturedStderr();
  EXPECT_TRUE(fs::is_directory(dir / "d/.trim-cache"));
  EXPECT_EQ(open_image_dataset(dir / "d", opt).train->num_classes(), 2);
}

TEST(OpenImageDataset, ExportedIdxFolderFeedsTheSameTensorsAsTheIdxReader) {
  // 12 images of 28 x 28 in 3 classes as IDX files, and the same pixels as PNGs in
  // root/<class>/<index>.png (what export-images writes). With the same rng and statistics,
  // every load, augmented or not, must agree: ImageTransform::sized is the IDX recipe.
  TempDir dir;
  const int n = 12, side = 28;
  std::string images, labels;
  put_be32(&images, 0x803);
  put_be32(&images, n);
  put_be32(&images, side);
  put_be32(&images, side);
  put_be32(&labels, 0x801);
  put_be32(&labels, n);
  std::mt19937_64 gen(5);
  const std::vector<std::string> names = {"T-shirt", "Trouser", "Pullover"};
  std::vector<Image> pics;
  for (int i = 0; i < n; ++i) {
    int label = (i * 5) % 3;
    labels.push_back(char(label));
    Image img(side, side, 1);
    for (uint8_t& p : img.pixels) p = uint8_t(gen() % 256);
    images.append(img.pixels.begin(), img.pixels.end());
    char rel[64];
    std::snprintf(rel, sizeof rel, "folder/%s/%05d.png", names[size_t(label)].c_str(), i);
    fs::create_directories(fs::path(dir / rel).parent_path());
    write_image(dir / rel, img.view());
    pics.push_back(img);
  }
  trim_test::write_bytes(dir / "images-idx3-ubyte", images);
  trim_test::write_bytes(dir / "labels-idx1-ubyte", labels);
  IdxOptions io;  // the IDX path's augmentation, with statistics both sides are given
  io.mean = 0.4f;
  io.std = 0.3f;
  auto idx = load_idx(dir / "images-idx3-ubyte", dir / "labels-idx1-ubyte", "idx", names, io);

  ImageOptions opt;
  opt.test_fraction = 0;
  opt.transform = ImageTransform::sized(side, 1);
  opt.transform.mean = {0.4f};
  opt.transform.stddev = {0.3f};
  opt.auto_size = false;
  DataSplits s = open_image_dataset(dir / "folder", opt);
  auto& folder = dynamic_cast<ImageFolderDataset&>(*s.train);
  ASSERT_EQ(folder.size(), size_t(n));
  ASSERT_EQ(folder.sample_shape(), idx->sample_shape());
  std::vector<float> a(side * side), b(side * side);
  for (size_t i = 0; i < folder.size(); ++i) {
    std::string file = fs::path(folder.samples()[i].path).stem().string();
    size_t j = size_t(std::stoi(file));
    EXPECT_EQ(folder.class_names()[size_t(folder.label(i))], idx->class_names()[size_t(idx->label(j))]);
    for (bool augment : {false, true})
      for (uint64_t seed : {1, 2, 3, 4}) {
        std::mt19937_64 r1(seed), r2(seed);
        ASSERT_TRUE(idx->load(j, a.data(), augment, r1));
        ASSERT_TRUE(folder.load(i, b.data(), augment, r2));
        for (size_t p = 0; p < a.size(); ++p)
          ASSERT_NEAR(a[p], b[p], 1e-4) << "sample " << j << " pixel " << p << " augment " << augment << " seed " << seed;
      }
  }
}
