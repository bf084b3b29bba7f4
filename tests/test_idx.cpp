// IDX reader: plain and gzipped files, normalisation, augmentation, and each bad file gives an
// Error naming it. Also reads the real Fashion-MNIST that `make deps` installs.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <functional>

#include "datasets/idx.h"
#include "temp_dir.h"

namespace trim {
namespace {

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return s;
}

std::string images_bytes(uint32_t n, uint32_t h, uint32_t w) {
  std::string s = be32(0x803) + be32(n) + be32(h) + be32(w);
  for (uint32_t i = 0; i < n * h * w; ++i) s.push_back(static_cast<char>((i * 37) % 256));
  return s;
}

std::string labels_bytes(uint32_t n, int classes) {
  std::string s = be32(0x801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i % static_cast<uint32_t>(classes)));
  return s;
}

void write(const std::string& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }
void write_gz(const std::string& p, const std::string& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Idx, ReadsPlainAndGzipIdentically) {
  TempDir d;
  write(d / "i", images_bytes(5, 4, 3));
  write(d / "l", labels_bytes(5, 3));
  write_gz(d / "i.gz", images_bytes(5, 4, 3));
  write_gz(d / "l.gz", labels_bytes(5, 3));
  auto a = load_idx(d / "i", d / "l", "plain", {"a", "b", "c"});
  auto b = load_idx(d / "i.gz", d / "l.gz", "gz", {"a", "b", "c"});
  ASSERT_EQ(a->size(), 5u);
  EXPECT_EQ(a->sample_shape(), (Shape{1, 4, 3}));
  EXPECT_EQ(a->num_classes(), 3);
  std::mt19937_64 rng(1);
  std::vector<float> x(12), y(12);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(a->label(i), static_cast<int>(i % 3));
    EXPECT_EQ(a->label(i), b->label(i));
    a->load(i, x.data(), false, rng);
    b->load(i, y.data(), false, rng);
    EXPECT_EQ(x, y);
  }
  // Pixel k of image 0 is (k*37)%256, normalised with Fashion-MNIST's mean/std.
  a->load(0, x.data(), false, rng);
  for (int k = 0; k < 12; ++k) EXPECT_NEAR(x[static_cast<size_t>(k)], ((k * 37) % 256 / 255.f - 0.2860f) / 0.3530f, 1e-5);
}

TEST(Idx, AugmentationIsAShiftOrFlipOfTheImage) {
  TempDir d;
  write(d / "i", images_bytes(1, 6, 6));
  write(d / "l", labels_bytes(1, 1));
  auto ds = load_idx(d / "i", d / "l", "t", {"only"});
  std::vector<float> plain(36), aug(36);
  std::mt19937_64 rng(3);
  ds->load(0, plain.data(), false, rng);
  const float zero = -0.2860f / 0.3530f;  // a padded (black) pixel after normalisation
  bool some_differ = false;
  for (int trial = 0; trial < 20; ++trial) {
    ds->load(0, aug.data(), true, rng);
    // Every augmented pixel is either padding or some pixel of the original image.
    for (float v : aug) {
      bool found = std::abs(v - zero) < 1e-6;
      for (float p : plain) found = found || std::abs(v - p) < 1e-6;
      ASSERT_TRUE(found);
    }
    some_differ = some_differ || aug != plain;
  }
  EXPECT_TRUE(some_differ);
}

TEST(Idx, BadFilesNameTheFile) {
  TempDir d;
  write(d / "i", images_bytes(5, 4, 3));
  write(d / "l", labels_bytes(5, 3));
  write(d / "l4", labels_bytes(4, 3));
  std::string e = error_of([&] { load_idx(d / "i", d / "l4", "t", {}); });
  EXPECT_NE(e.find("4 labels"), std::string::npos) << e;
  EXPECT_NE(e.find(d / "l4"), std::string::npos) << e;
  write(d / "trunc", images_bytes(5, 4, 3).substr(0, 40));
  e = error_of([&] { load_idx(d / "trunc", d / "l", "t", {}); });
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find(d / "trunc"), std::string::npos) << e;
  e = error_of([&] { load_idx(d / "l", d / "l", "t", {}); });
  EXPECT_NE(e.find("magic"), std::string::npos) << e;
  e = error_of([&] { load_idx(d / "i", d / "l", "t", {"only", "two"}); });
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  e = error_of([&] { load_idx(d / "missing", d / "l", "t", {}); });
  EXPECT_NE(e.find(d / "missing"), std::string::npos) << e;
  // A gzip stream cut short.
  std::string gz;
  write_gz(d / "full.gz", images_bytes(50, 10, 10));
  {
    std::ifstream f(d / "full.gz", std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(f), {});
  }
  write(d / "cut.gz", gz.substr(0, gz.size() / 2));
  e = error_of([&] { load_idx(d / "cut.gz", d / "l", "t", {}); });
  EXPECT_NE(e.find(d / "cut.gz"), std::string::npos) << e;
  e = error_of([&] { load_fashion_mnist(d.path(), true); });
  EXPECT_NE(e.find("dataset-fashion-mnist"), std::string::npos) << e;
}

TEST(Idx, RealFashionMnistFromTheDebianPackage) {
  // `make deps` installs dataset-fashion-mnist; the test suite relies on it being there.
  auto train = load_fashion_mnist(kFashionMnistDir, true);
  auto test = load_fashion_mnist(kFashionMnistDir, false);
  EXPECT_EQ(train->size(), 60000u);
  EXPECT_EQ(test->size(), 10000u);
  EXPECT_EQ(train->sample_shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(train->class_names()[9], "Ankle boot");
  std::vector<int> count(10, 0);
  for (size_t i = 0; i < test->size(); ++i) count[static_cast<size_t>(test->label(i))]++;
  for (int c : count) EXPECT_EQ(c, 1000);  // Fashion-MNIST's test split is balanced
}

TEST(Subsets, SelectClassesRelabelsAndSplitIsDeterministic) {
  auto test = load_fashion_mnist(kFashionMnistDir, false);
  auto three = select_classes(test, {0, 2, 6});
  EXPECT_EQ(three->size(), 3000u);
  EXPECT_EQ(three->num_classes(), 3);
  EXPECT_EQ(three->class_names(), (std::vector<std::string>{"T-shirt/top", "Pullover", "Shirt"}));
  for (size_t i = 0; i < three->size(); i += 97) EXPECT_LT(three->label(i), 3);
  auto s1 = split_dataset(three, 0.1, 5), s2 = split_dataset(three, 0.1, 5), s3 = split_dataset(three, 0.1, 6);
  EXPECT_EQ(s1.second->size(), 300u);
  EXPECT_EQ(s1.first->size(), 2700u);
  bool same = true, differs = false;
  for (size_t i = 0; i < 300; ++i) {
    same = same && s1.second->label(i) == s2.second->label(i);
    differs = differs || s1.second->label(i) != s3.second->label(i);
  }
  EXPECT_TRUE(same);
  EXPECT_TRUE(differs);
  EXPECT_THROW(select_classes(test, {0, 10}), Error);
  EXPECT_THROW(select_classes(test, {1, 1}), Error);
}

}  // namespace
}  // namespace trim
