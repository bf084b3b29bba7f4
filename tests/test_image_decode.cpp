// Tests of datasets/image_decode: stb decoding with channel conversion, the guards against bad
// files (empty, not an image, truncated, absurd header, random corruption), resizing.
#include "datasets/image_decode.h"

#include <gtest/gtest.h>

// stb_image_resize is the reference for trim's own resampler: compiled here, static, and only
// here (the library does not use it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#define STB_IMAGE_RESIZE_STATIC
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

#include <random>

#include "framework/tensor.h"
#include "tests/test_image_fixtures.h"

using namespace trim;
using trim_test::TempDir;

namespace {

// Runs f, which must throw trim::Error whose message contains `needle`.
template <class F>
void expect_error_naming(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no trim::Error thrown; expected one naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what() << "\nwanted: " << needle;
  }
}

std::vector<uint8_t> bytes_of(const std::string& path) {
  std::string s = trim_test::read_all(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace

TEST(ImageDecode, Extensions) {
  EXPECT_TRUE(has_image_extension("a/b/c.jpg"));
  EXPECT_TRUE(has_image_extension("C.JPEG"));
  EXPECT_TRUE(has_image_extension("x.Png"));
  EXPECT_TRUE(has_image_extension("x.bMp"));
  EXPECT_FALSE(has_image_extension("x.gif"));
  EXPECT_FALSE(has_image_extension("jpg"));
  EXPECT_FALSE(has_image_extension("notes.txt"));
  EXPECT_FALSE(has_image_extension("x.jpg.txt"));
}

TEST(ImageDecode, PngAndBmpRoundTripExactly) {
  TempDir dir;
  Image src = trim_test::pattern_image(13, 9, 3, 5);
  for (const char* ext : {".png", ".bmp"}) {
    std::string p = dir / (std::string("rt") + ext);
    write_image(p, src.view());
    Image back = read_image(p, 3);
    ASSERT_EQ(back.width, 13);
    ASSERT_EQ(back.height, 9);
    ASSERT_EQ(back.channels, 3);
    EXPECT_EQ(back.pixels, src.pixels) << ext;
    ImageInfo info = read_image_info(p);
    EXPECT_EQ(info.width, 13);
    EXPECT_EQ(info.height, 9);
    EXPECT_EQ(info.channels, 3);
  }
}

TEST(ImageDecode, JpegRoundTripIsClose) {
  TempDir dir;
  Image src = trim_test::pattern_image(32, 24, 3);
  std::string p = dir / "rt.jpg";
  write_image(p, src.view(), 95);
  Image back = read_image(p, 3);
  ASSERT_EQ(back.width, 32);
  ASSERT_EQ(back.height, 24);
  double err = 0;
  for (size_t i = 0; i < src.pixels.size(); ++i) err += std::abs(int(src.pixels[i]) - int(back.pixels[i]));
  // Lossy: a smooth pattern at quality 95 stays within a few levels on average.
  EXPECT_LT(err / src.pixels.size(), 4.0);
}

TEST(ImageDecode, ChannelConversion) {
  TempDir dir;
  // Grey file read as RGB: the level replicated.
  std::string grey = dir / "grey.png";
  write_image(grey, trim_test::flat_image(5, 4, 1, 77).view());
  Image g3 = read_image(grey, 3);
  ASSERT_EQ(g3.channels, 3);
  for (uint8_t v : g3.pixels) EXPECT_EQ(v, 77);
  EXPECT_EQ(read_image_info(grey).channels, 1);

  // RGB read as grey: luma 0.299 R + 0.587 G + 0.114 B.
  Image rgb(4, 3, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) {
      rgb.at(x, y, 0) = 200;
      rgb.at(x, y, 1) = 100;
      rgb.at(x, y, 2) = 50;
    }
  std::string colour = dir / "rgb.png";
  write_image(colour, rgb.view());
  Image g1 = read_image(colour, 1);
  ASSERT_EQ(g1.channels, 1);
  for (uint8_t v : g1.pixels) EXPECT_NEAR(v, 0.299 * 200 + 0.587 * 100 + 0.114 * 50, 1.0);

  // RGBA read as RGB: colour kept, alpha (even fully transparent) dropped.
  Image rgba(3, 3, 4);
  for (size_t i = 0; i < rgba.pixels.size(); i += 4) {
    rgba.pixels[i] = 10;
    rgba.pixels[i + 1] = 120;
    rgba.pixels[i + 2] = 250;
    rgba.pixels[i + 3] = 0;
  }
  std::string alpha = dir / "rgba.png";
  write_image(alpha, rgba.view());
  Image a3 = read_image(alpha, 3);
  for (size_t i = 0; i < a3.pixels.size(); i += 3) {
    EXPECT_EQ(a3.pixels[i], 10);
    EXPECT_EQ(a3.pixels[i + 1], 120);
    EXPECT_EQ(a3.pixels[i + 2], 250);
  }
  expect_error_naming([&] { read_image(alpha, 2); }, alpha);
}

TEST(ImageDecode, BadFilesThrowErrorsNamingTheFile) {
  TempDir dir;
  std::string empty = dir / "empty.png";
  trim_test::write_bytes(empty, "");
  expect_error_naming([&] { read_image(empty, 3); }, empty);
  expect_error_naming([&] { read_image(empty, 3); }, "empty");

  std::string text = dir / "notes.jpg";
  trim_test::write_bytes(text, "this is a text file, not a JPEG\n");
  expect_error_naming([&] { read_image(text, 3); }, text);

  std::string missing = dir / "missing.png";
  expect_error_naming([&] { read_image(missing, 3); }, missing);
  expect_error_naming([&] { read_image(dir.path(), 3); }, dir.path());  // a folder

  // Truncated PNG: the compressed data stops half way.
  std::string png = dir / "full.png";
  write_image(png, trim_test::pattern_image(64, 48, 3).view());
  std::string cut_png = dir / "cut.png";
  std::string full = trim_test::read_all(png);
  trim_test::write_bytes(cut_png, full.substr(0, full.size() / 2));
  expect_error_naming([&] { read_image(cut_png, 3); }, cut_png);

  // Truncated JPEG: cut inside the scan data, just before the end marker, inside the header.
  std::string jpg = dir / "full.jpg";
  write_image(jpg, trim_test::pattern_image(64, 48, 3).view());
  std::string fj = trim_test::read_all(jpg);
  ASSERT_NO_THROW(read_image(jpg, 3));
  for (size_t keep : {fj.size() * 6 / 10, fj.size() - 2, size_t(20)}) {
    std::string cut = dir / ("cut" + std::to_string(keep) + ".jpg");
    trim_test::write_bytes(cut, fj.substr(0, keep));
    expect_error_naming([&] { read_image(cut, 3); }, cut);
  }

  // Truncated BMP: stb_image would read the missing rows as black; the size check refuses.
  std::string bmp = dir / "full.bmp";
  write_image(bmp, trim_test::pattern_image(64, 48, 3).view());
  std::string fb = trim_test::read_all(bmp);
  ASSERT_NO_THROW(read_image(bmp, 3));
  for (size_t keep : {fb.size() / 2, fb.size() - 1, size_t(60)}) {
    std::string cut = dir / ("cut" + std::to_string(keep) + ".bmp");
    trim_test::write_bytes(cut, fb.substr(0, keep));
    expect_error_naming([&] { read_image(cut, 3); }, cut);
  }
}

TEST(ImageDecode, AbsurdHeaderDimensionsAreRejectedBeforeDecoding) {
  // A hand-made PNG header claiming 8200 x 8200 grey pixels (67 Mpx, just over the limit) and
  // no image data: must fail on the header, not try to allocate and decode.
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  auto be32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) png.push_back(uint8_t(v >> s));
  };
  be32(8200);
  be32(8200);
  png.insert(png.end(), {8, 0, 0, 0, 0});  // 8-bit grey, no interlace
  be32(0);                                  // CRC (stb does not check it)
  expect_error_naming([&] { decode_image(png.data(), png.size(), 3, "huge.png"); }, "huge.png");
  expect_error_naming([&] { decode_image(png.data(), png.size(), 3, "huge.png"); }, "limit");
}

TEST(ImageDecode, RandomCorruptionNeverCrashes) {
  TempDir dir;
  std::mt19937_64 rng(7);
  for (const char* ext : {".jpg", ".png", ".bmp"}) {
    std::string p = dir / (std::string("src") + ext);
    write_image(p, trim_test::pattern_image(24, 16, 3).view());
    std::vector<uint8_t> good = bytes_of(p);
    int decoded = 0, rejected = 0;
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> b = good;
      int flips = 1 + int(rng() % 8);
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] = uint8_t(rng());
      if (trial % 3 == 0) b.resize(1 + rng() % b.size());
      try {
        Image img = decode_image(b.data(), b.size(), 3, "fuzz");
        // Whatever decodes must be a consistent image.
        ASSERT_EQ(img.pixels.size(), size_t(img.width) * img.height * 3);
        ++decoded;
      } catch (const Error&) {
        ++rejected;
      }
    }
    EXPECT_EQ(decoded + rejected, 300) << ext;
    EXPECT_GT(rejected, 0) << ext;  // the corruption must actually hit something
  }
}

TEST(ImageResize, ConstantStaysConstant) {
  Image src = trim_test::flat_image(37, 23, 3, 143);
  for (auto wh : {std::pair<int, int>{11, 7}, {80, 50}, {37, 1}, {1, 1}}) {
    Image out = resize_image(src.view(), wh.first, wh.second);
    ASSERT_EQ(out.pixels.size(), size_t(wh.first) * wh.second * 3);
    for (uint8_t v : out.pixels) ASSERT_EQ(v, 143);
  }
}

TEST(ImageResize, UpsamplingIsBilinear) {
  // Two pixels 0 and 255 to four: sample centres at -0.25, 0.25, 0.75, 1.25 source pixels,
  // clamped at the edges: 0, 63.75, 191.25, 255.
  Image src(2, 1, 1);
  src.pixels = {0, 255};
  Image out = resize_image(src.view(), 4, 1);
  EXPECT_NEAR(out.pixels[0], 0, 1);
  EXPECT_NEAR(out.pixels[1], 63.75, 1);
  EXPECT_NEAR(out.pixels[2], 191.25, 1);
  EXPECT_NEAR(out.pixels[3], 255, 1);
}

TEST(ImageResize, ShrinkingIsAntialiased) {
  // Alternating black and white columns shrunk 3:1. Point-sampled bilinear would land on
  // single columns (0 or 255); the widened filter averages them to mid grey.
  Image src(18, 6, 1);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 18; ++x) src.at(x, y, 0) = (x % 2) ? 255 : 0;
  Image out = resize_image(src.view(), 6, 2);
  for (uint8_t v : out.pixels) {
    EXPECT_GT(v, 90);
    EXPECT_LT(v, 165);
  }
}

TEST(ImageResize, MatchesStbImageResizeTriangleFilter) {
  // Noise is the hardest input: every tap matters. Shrinking (the 224 crop of a photo, odd
  // ratios), enlarging, one axis only, grey and RGB, boxes inside a larger image.
  std::mt19937_64 rng(3);
  struct Case {
    int src_w, src_h, c, x, y, w, h, dst_w, dst_h;
  } cases[] = {
      {500, 375, 3, 0, 0, 500, 375, 341, 256}, {500, 375, 3, 37, 12, 301, 250, 224, 224},
      {37, 23, 1, 0, 0, 37, 23, 11, 7},        {20, 15, 3, 0, 0, 20, 15, 64, 48},
      {40, 30, 3, 5, 5, 30, 20, 30, 47},       {64, 64, 1, 3, 7, 50, 41, 17, 41},
      {300, 200, 3, 100, 50, 7, 9, 224, 224},  {28, 28, 1, 0, 0, 28, 28, 224, 224},
  };
  for (const Case& k : cases) {
    Image src(k.src_w, k.src_h, k.c);
    for (uint8_t& p : src.pixels) p = uint8_t(rng());
    std::vector<uint8_t> mine(size_t(k.dst_w) * k.dst_h * k.c), ref(mine.size());
    resize_box(src.view(), k.x, k.y, k.w, k.h, mine.data(), k.dst_w, k.dst_h);
    const uint8_t* origin = src.pixels.data() + (size_t(k.y) * k.src_w + k.x) * k.c;
    ASSERT_TRUE(stbir_resize_uint8_generic(origin, k.w, k.h, k.src_w * k.c, ref.data(), k.dst_w, k.dst_h, k.dst_w * k.c, k.c,
                                           STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE,
                                           STBIR_COLORSPACE_LINEAR, nullptr));
    int worst = 0;
    double sum = 0;
    for (size_t i = 0; i < mine.size(); ++i) {
      int d = std::abs(int(mine[i]) - int(ref[i]));
      worst = std::max(worst, d);
      sum += d;
    }
    // stb keeps floats between its two passes and rounds once; trim rounds after each pass
    // (8-bit intermediate rows, as PIL does): at most one level apart.
    EXPECT_LE(worst, 1) << k.w << "x" << k.h << " -> " << k.dst_w << "x" << k.dst_h << " c" << k.c;
    EXPECT_LT(sum / mine.size(), 0.5) << k.w << "x" << k.h << " -> " << k.dst_w << "x" << k.dst_h << " c" << k.c;
  }
}

TEST(ImageResize, BoxReadsOnlyItsPixels) {
  Image src = trim_test::flat_image(20, 20, 3, 255);
  for (int y = 5; y < 13; ++y)
    for (int x = 4; x < 10; ++x)
      for (int c = 0; c < 3; ++c) src.at(x, y, c) = 10;
  std::vector<uint8_t> out(3 * 5 * 3);
  resize_box(src.view(), 4, 5, 6, 8, out.data(), 3, 5);
  for (uint8_t v : out) EXPECT_EQ(v, 10);
  // Same size: an exact crop.
  Image pat = trim_test::pattern_image(9, 7, 3);
  std::vector<uint8_t> crop(4 * 3 * 3);
  resize_box(pat.view(), 2, 1, 4, 3, crop.data(), 4, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(crop[size_t((y * 4 + x) * 3 + c)], pat.at(x + 2, y + 1, c));
  EXPECT_THROW(resize_box(pat.view(), 6, 0, 4, 3, crop.data(), 4, 3), Error);  // box leaves the image
  EXPECT_THROW(resize_box(pat.view(), 0, 0, 0, 3, crop.data(), 4, 3), Error);
}

TEST(ImageWrite, UnknownExtensionAndUnwritablePathAreErrors) {
  TempDir dir;
  Image img = trim_test::flat_image(2, 2, 1, 0);
  expect_error_naming([&] { write_image(dir / "x.gif", img.view()); }, "x.gif");
  expect_error_naming([&] { write_image(dir / "no/such/dir/x.png", img.view()); }, "x.png");
}
