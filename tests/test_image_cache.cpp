// Tests of datasets/image_cache: what is cached equals what decoding + resizing gives, the
// cache is reused when nothing changed and rebuilt when a file changed or the cache is damaged,
// no temporary file is left behind, unreadable images stay unreadable through the cache.
#include "datasets/image_cache.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/time.h>

#include "datasets/augment.h"
#include "datasets/image_folder.h"
#include "framework/tensor.h"
#include "tests/test_image_fixtures.h"

using namespace trim;
using trim_test::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> write_files(const TempDir& dir) {
  std::vector<std::string> files;
  fs::create_directories(dir / "img");
  for (int k = 0; k < 7; ++k) {
    std::string p = dir / ("img/" + std::to_string(k) + (k % 2 ? ".png" : ".jpg"));
    write_image(p, trim_test::pattern_image(40 + 9 * k, 30 + 5 * k, 3, k).view());
    files.push_back(p);
  }
  return files;
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST(ImageCache, HoldsTheDecodedResizedImages) {
  TempDir dir;
  std::vector<std::string> files = write_files(dir);
  fs::create_directories(dir / "cache");
  const std::string path = dir / "cache/c.trimcache";
  auto cache = ImageCache::open_or_build(path, files, 3, 24, 2);
  EXPECT_TRUE(cache->built_now());
  ASSERT_EQ(cache->size(), files.size());
  EXPECT_EQ(cache->failed(), 0u);
  EXPECT_EQ(files_in(dir / "cache"), 1u);  // the temporary file was renamed, not left behind
  for (size_t i = 0; i < files.size(); ++i) {
    Image img = read_image(files[i], 3);
    int w, h;
    resized_dims(img.width, img.height, 24, &w, &h);
    Image want = resize_image(img.view(), w, h);
    ImageView got;
    ASSERT_TRUE(cache->get(i, &got));
    ASSERT_EQ(got.width, w);
    ASSERT_EQ(got.height, h);
    ASSERT_EQ(got.channels, 3);
    EXPECT_EQ(std::vector<uint8_t>(got.pixels, got.pixels + want.pixels.size()), want.pixels) << files[i];
  }
  // Opened again: reused, not rebuilt.
  auto again = ImageCache::open_or_build(path, files, 3, 24, 2);
  EXPECT_FALSE(again->built_now());
  // Another size or channel count is not this cache.
  EXPECT_THROW(ImageCache::open(path, files, 1, 24), Error);
  EXPECT_THROW(ImageCache::open(path, files, 3, 32), Error);
}

TEST(ImageCache, ChangedFilesOrDamageTriggerARebuild) {
  TempDir dir;
  std::vector<std::string> files = write_files(dir);
  const std::string path = dir / "c.trimcache";
  ImageCache::open_or_build(path, files, 1, 16, 1);

  // A file rewritten with other content (and a later modification time): stale.
  write_image(files[3], trim_test::flat_image(50, 50, 3, 9).view());
  struct timeval later[2] = {{2000000000, 0}, {2000000000, 0}};
  ASSERT_EQ(::utimes(files[3].c_str(), later), 0);
  try {
    ImageCache::open(path, files, 1, 16);
    ADD_FAILURE() << "stale cache accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stale"), std::string::npos) << e.what();
  }
  auto rebuilt = ImageCache::open_or_build(path, files, 1, 16, 2);
  EXPECT_TRUE(rebuilt->built_now());
  ImageView v;
  ASSERT_TRUE(rebuilt->get(3, &v));
  EXPECT_EQ(v.width, 16);
  EXPECT_EQ(v.pixels[0], 9);

  // A file list of another length: the cache is for another data set.
  std::vector<std::string> fewer(files.begin(), files.end() - 1);
  EXPECT_THROW(ImageCache::open(path, fewer, 1, 16), Error);

  // Truncated on disk (a crash of some other program, a full disk): rebuilt, not trusted.
  std::string bytes = trim_test::read_all(path);
  trim_test::write_bytes(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(ImageCache::open(path, files, 1, 16), Error);
  auto healed = ImageCache::open_or_build(path, files, 1, 16, 2);
  EXPECT_TRUE(healed->built_now());
  EXPECT_EQ(healed->file_bytes(), bytes.size());

  // Not a cache at all.
  trim_test::write_bytes(path, "hello");
  EXPECT_THROW(ImageCache::open(path, files, 1, 16), Error);

  // Unwritable location: an Error naming it.
  try {
    ImageCache::open_or_build(dir / "no/such/dir/c.trimcache", files, 1, 16, 1);
    ADD_FAILURE() << "no error for an unwritable cache path";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "no/such/dir/c.trimcache"), std::string::npos) << e.what();
  }
}

TEST(ImageCache, DatasetThroughTheCacheMatchesWithoutAndKeepsBadImagesBad) {
  TempDir dir;
  trim_test::write_class_folders(dir / "data", {"a", "b"}, 3, ".jpg", 50, 40);
  trim_test::write_bytes(dir / "data/b/broken.png", "not a png");
  SampleList list = scan_image_folder(dir / "data");
  ImageTransform t;
  t.resize = 36;
  t.crop = 32;
  ImageFolderDataset plain("plain", list.samples, list.classes, t), cached("cached", list.samples, list.classes, t);
  testing::internal::CaptureStderr();
  cached.use_cache(dir / "cache.bin", 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");  // building is silent; loading warns
  ASSERT_NE(cached.cache(), nullptr);
  EXPECT_EQ(cached.cache()->failed(), 1u);
  const size_t len = 3 * 32 * 32;
  std::vector<float> a(len), b(len);
  testing::internal::CaptureStderr();
  for (size_t i = 0; i < plain.size(); ++i) {
    std::mt19937_64 r1(5), r2(5);
    bool ok1 = plain.load(i, a.data(), false, r1), ok2 = cached.load(i, b.data(), false, r2);
    EXPECT_EQ(ok1, ok2);
    // Evaluation from the cache is exact: the cache holds the very image evaluation resizes to.
    EXPECT_EQ(a, b) << plain.samples()[i].path;
    // Training from the cache starts from the resized image: same shape, same draws.
    ok2 = cached.load(i, b.data(), true, r2);
    EXPECT_EQ(ok1, ok2);
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(dir / "data/b/broken.png"), std::string::npos) << err;
  EXPECT_EQ(cached.skipped(), 2u);  // one eval and one training load of the broken file
  cached.set_strict(true);
  size_t bad = size_t(std::find_if(list.samples.begin(), list.samples.end(),
                                   [](const ImageSample& s) { return s.path.find("broken") != std::string::npos; }) -
                      list.samples.begin());
  std::mt19937_64 r(0);
  EXPECT_THROW(cached.load(bad, b.data(), false, r), Error);
  // The transform may not change under a cache built for another size.
  ImageTransform other = t;
  other.resize = 40;
  EXPECT_THROW(cached.set_transform(other), Error);
}

TEST(ImageCache, RefusesACacheLargerThanTheFreeDiskSpace) {
  // 100,000 images at 8192 px would need ~27 TB: refused before a single file is read (the
  // names need not even exist).
  TempDir dir;
  std::vector<std::string> files(100000, dir / "never-read.jpg");
  try {
    ImageCache::open_or_build(dir / "huge.trimcache", files, 3, 8192, 1);
    ADD_FAILURE() << "a 27 TB cache was started";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("free"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir / "huge.trimcache"), std::string::npos) << e.what();
  }
  EXPECT_EQ(files_in(dir.path()), 0u);  // nothing written, no temporary file left
}
