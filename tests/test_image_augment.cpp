// Tests of datasets/augment: evaluation geometry (resize + center crop), random-resized crop
// boxes, shift and flip, normalisation, determinism (only the rng passed in), option checks.
#include "datasets/augment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <thread>

#include "framework/tensor.h"
#include "tests/test_image_fixtures.h"

using namespace trim;

namespace {

ImageTransform unit_norm(ImageTransform t) {  // out = pixel / 255: easy to reason about
  t.mean.assign(size_t(t.channels), 0.f);
  t.stddev.assign(size_t(t.channels), 1.f);
  return t;
}

std::vector<float> run(const Image& img, const ImageTransform& t, bool augment, uint64_t seed) {
  std::vector<float> out(size_t(t.channels) * t.crop * t.crop, -99.f);
  std::mt19937_64 rng(seed);
  transform_image(img.view(), t, augment, rng, out.data());
  return out;
}

}  // namespace

TEST(ImageTransform, DefaultsAreTheImageNetRecipe) {
  ImageTransform t;
  EXPECT_EQ(t.resize, 256);
  EXPECT_EQ(t.crop, 224);
  EXPECT_EQ(t.channels, 3);
  EXPECT_TRUE(t.random_resized_crop);
  EXPECT_TRUE(t.hflip);
  EXPECT_FLOAT_EQ(t.scale_min, 0.08f);
  ASSERT_EQ(t.mean.size(), 3u);
  EXPECT_FLOAT_EQ(t.mean[0], 0.485f);
  EXPECT_FLOAT_EQ(t.stddev[2], 0.225f);
  EXPECT_NO_THROW(t.validate());
  ImageTransform g = ImageTransform::imagenet(1);
  ASSERT_EQ(g.mean.size(), 1u);
  EXPECT_NEAR(g.mean[0], (0.485f + 0.456f + 0.406f) / 3, 1e-6);
  EXPECT_NO_THROW(g.validate());
  ImageTransform s = ImageTransform::sized(28, 1);
  EXPECT_EQ(s.crop, 28);
  EXPECT_EQ(s.resize, 28);
  EXPECT_FALSE(s.random_resized_crop);
  EXPECT_EQ(s.pad_crop, 2);
  EXPECT_TRUE(s.mean.empty());
  EXPECT_NO_THROW(s.validate());
}

TEST(ImageTransform, ValidateNamesTheBadField) {
  auto expect_bad = [](ImageTransform t, const std::string& field) {
    try {
      t.validate();
      ADD_FAILURE() << "accepted bad " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  ImageTransform t;
  t.resize = 200;  // smaller than the 224 crop
  expect_bad(t, "resize");
  t = ImageTransform();
  t.channels = 2;
  expect_bad(t, "channels");
  t = ImageTransform();
  t.channels = 1;  // three ImageNet means for one channel
  expect_bad(t, "mean");
  t = ImageTransform();
  t.stddev[1] = 0;
  expect_bad(t, "std");
  t = ImageTransform();
  t.scale_min = 0.9f;
  t.scale_max = 0.5f;
  expect_bad(t, "scale");
  t = ImageTransform();
  t.ratio_min = -1;
  expect_bad(t, "ratio");
}

TEST(ImageTransform, ResizedDimsFollowTorchvision) {
  int w, h;
  resized_dims(500, 375, 256, &w, &h);  // int(256 * 500 / 375) = 341
  EXPECT_EQ(w, 341);
  EXPECT_EQ(h, 256);
  resized_dims(375, 500, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 341);
  resized_dims(100, 100, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 256);
}

TEST(ImageTransform, EvalIsCenterCropAndNormalisation) {
  // 6 x 4 image, resize 4 (the shorter side already is 4: no resampling), crop 4: the centre
  // columns 1..4 must come out exactly, channel-major, normalised per channel.
  Image img = trim_test::pattern_image(6, 4, 3);
  ImageTransform t;
  t.resize = 4;
  t.crop = 4;
  t.mean = {0.5f, 0.25f, 0.f};
  t.stddev = {0.5f, 2.f, 1.f};
  std::vector<float> out = run(img, t, false, 1);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        float want = (img.at(x + 1, y, c) / 255.f - t.mean[c]) / t.stddev[c];
        ASSERT_NEAR(out[size_t((c * 4 + y) * 4 + x)], want, 1e-5) << c << " " << y << " " << x;
      }
}

TEST(ImageTransform, EvalShapesAndRangesAt224) {
  ImageTransform t;  // ImageNet defaults
  for (auto wh : {std::pair<int, int>{500, 375}, {375, 500}, {64, 48}, {300, 300}}) {
    Image img = trim_test::pattern_image(wh.first, wh.second, 3);
    std::vector<float> out = run(img, t, false, 3);
    ASSERT_EQ(out.size(), size_t(3 * 224 * 224));
    for (size_t i = 0; i < out.size(); ++i) {
      int c = int(i / (224 * 224));
      ASSERT_GE(out[i], (0.f - t.mean[c]) / t.stddev[c] - 1e-5f);
      ASSERT_LE(out[i], (1.f - t.mean[c]) / t.stddev[c] + 1e-5f);
    }
    // Evaluation draws nothing: any seed gives the same output.
    EXPECT_EQ(out, run(img, t, false, 12345));
  }
}

TEST(ImageTransform, RandomResizedCropBoxesObeyScaleAndRatio) {
  ImageTransform t;
  std::mt19937_64 rng(11);
  int fallback = 0;
  std::set<std::pair<int, int>> origins;
  for (int i = 0; i < 2000; ++i) {
    CropBox b = random_resized_crop_box(500, 375, t, rng);
    ASSERT_GE(b.x, 0);
    ASSERT_GE(b.y, 0);
    ASSERT_GE(b.w, 1);
    ASSERT_GE(b.h, 1);
    ASSERT_LE(b.x + b.w, 500);
    ASSERT_LE(b.y + b.h, 375);
    double area = double(b.w) * b.h / (500.0 * 375.0), ratio = double(b.w) / b.h;
    if (b.w == 500 && b.h == 375) {
      ++fallback;
      continue;
    }
    // Rounding w and h to whole pixels moves area and ratio slightly past the drawn limits.
    EXPECT_GE(area, 0.08 * 0.97);
    EXPECT_LE(area, 1.0);
    EXPECT_GE(ratio, 0.75 * 0.97);
    EXPECT_LE(ratio, 4.0 / 3 * 1.03);
    origins.insert({b.x, b.y});
  }
  EXPECT_LT(fallback, 20);
  EXPECT_GT(origins.size(), 1000u);  // positions really vary

  // A 40:1 strip: no draw fits, the fallback trims it to the widest allowed ratio.
  ImageTransform narrow;
  narrow.scale_min = 0.9f;
  CropBox f = random_resized_crop_box(400, 10, narrow, rng);
  EXPECT_EQ(f.h, 10);
  EXPECT_EQ(f.w, 13);  // round(10 * 4/3)
  EXPECT_EQ(f.x, (400 - 13) / 2);
}

TEST(ImageTransform, TrainingIsAFunctionOfTheRngOnly) {
  Image img = trim_test::pattern_image(120, 90, 3);
  ImageTransform t;
  t.resize = 72;
  t.crop = 64;
  std::vector<float> a = run(img, t, true, 42), b = run(img, t, true, 42), c = run(img, t, true, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Same seeds on two threads at once: same results as one after the other.
  std::vector<float> ta, tb;
  std::thread t1([&] { ta = run(img, t, true, 42); });
  std::thread t2([&] { tb = run(img, t, true, 43); });
  t1.join();
  t2.join();
  EXPECT_EQ(ta, a);
  EXPECT_EQ(tb, c);
  for (size_t i = 0; i < a.size(); ++i) {
    int ch = int(i / (64 * 64));
    ASSERT_GE(a[i], (0.f - t.mean[ch]) / t.stddev[ch] - 1e-5f);
    ASSERT_LE(a[i], (1.f - t.mean[ch]) / t.stddev[ch] + 1e-5f);
  }
}

TEST(ImageTransform, FlipMirrorsTheEvaluationImage) {
  Image img = trim_test::pattern_image(16, 16, 3);
  ImageTransform t = unit_norm(ImageTransform::sized(16, 3));
  t.pad_crop = 0;  // flip only
  std::vector<float> plain = run(img, t, false, 0);
  int flipped = 0, kept = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    std::vector<float> out = run(img, t, true, seed);
    bool same = out == plain, mirror = true;
    for (int c = 0; c < 3 && mirror; ++c)
      for (int y = 0; y < 16 && mirror; ++y)
        for (int x = 0; x < 16; ++x)
          if (out[size_t((c * 16 + y) * 16 + x)] != plain[size_t((c * 16 + y) * 16 + 15 - x)]) {
            mirror = false;
            break;
          }
    ASSERT_TRUE(same || mirror) << "seed " << seed;
    flipped += mirror && !same;
    kept += same;
  }
  EXPECT_GT(flipped, 5);  // both happen: probability 1/2 each
  EXPECT_GT(kept, 5);
  t.hflip = false;
  for (uint64_t seed = 0; seed < 10; ++seed) EXPECT_EQ(run(img, t, true, seed), plain);
}

TEST(ImageTransform, ShiftFillsWithNormalisedBlack) {
  Image img = trim_test::flat_image(28, 28, 1, 200);
  ImageTransform t = ImageTransform::sized(28, 1);
  t.hflip = false;
  t.mean = {0.25f};
  t.stddev = {0.5f};
  const float black = (0.f - 0.25f) / 0.5f, grey = (200 / 255.f - 0.25f) / 0.5f;
  int shifted = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    std::vector<float> out = run(img, t, true, seed);
    int nb = 0;
    for (float v : out) {
      ASSERT_TRUE(std::abs(v - black) < 1e-5 || std::abs(v - grey) < 1e-5) << v;
      nb += std::abs(v - black) < 1e-5;
    }
    // At most 2 rows and 2 columns are uncovered: 28*28 - 26*26 = 108 pixels.
    EXPECT_LE(nb, 108);
    shifted += nb > 0;
  }
  EXPECT_GT(shifted, 15);  // only dy = dx = 0 (1 in 25) leaves no border
}

TEST(ImageTransform, ChannelMismatchIsAnError) {
  Image grey = trim_test::flat_image(8, 8, 1, 0);
  ImageTransform t = ImageTransform::sized(8, 3);
  std::vector<float> out(3 * 64);
  std::mt19937_64 rng(0);
  EXPECT_THROW(transform_image(grey.view(), t, false, rng, out.data()), Error);
}
