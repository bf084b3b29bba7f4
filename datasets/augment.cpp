#include "datasets/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "framework/tensor.h"

namespace trim {

namespace {

// Own conversions instead of std::uniform_*_distribution, whose output is implementation
// defined: the same seed must give the same crops on every compiler and on the Arm build.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }
double uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }
int randint(std::mt19937_64& rng, int lo, int hi) {  // inclusive; modulo bias < 2^-40 here
  return lo + static_cast<int>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

}  // namespace

ImageTransform ImageTransform::imagenet(int channels) {
  ImageTransform t;
  t.channels = channels;
  if (channels == 1) {
    t.mean = {(0.485f + 0.456f + 0.406f) / 3};
    t.stddev = {(0.229f + 0.224f + 0.225f) / 3};
  }
  return t;
}

ImageTransform ImageTransform::sized(int size, int channels) {
  ImageTransform t;
  t.channels = channels;
  t.resize = t.crop = size;
  t.random_resized_crop = false;
  t.pad_crop = std::max(0, size / 14);
  t.hflip = true;
  t.mean.clear();
  t.stddev.clear();
  return t;
}

void ImageTransform::validate() const {
  auto bad = [](const std::string& m) { throw Error("image transform: " + m); };
  if (channels != 1 && channels != 3) bad("channels must be 1 or 3, got " + std::to_string(channels));
  if (crop < 1 || crop > 4096) bad("crop must be 1..4096 px, got " + std::to_string(crop));
  if (resize < crop || resize > 8192)
    bad("resize (" + std::to_string(resize) + ") must be at least crop (" + std::to_string(crop) + ") and at most 8192");
  if (!(scale_min > 0 && scale_min <= scale_max && scale_max <= 1))
    bad("scale must satisfy 0 < min <= max <= 1, got " + fmt(scale_min) + ".." + fmt(scale_max));
  if (!(ratio_min > 0 && ratio_min <= ratio_max))
    bad("ratio must satisfy 0 < min <= max, got " + fmt(ratio_min) + ".." + fmt(ratio_max));
  if (pad_crop < 0 || pad_crop >= crop) bad("pad_crop must be 0..crop-1, got " + std::to_string(pad_crop));
  if (mean.size() != stddev.size()) bad("mean and std must have the same number of values");
  if (!mean.empty() && mean.size() != static_cast<size_t>(channels))
    bad(std::to_string(mean.size()) + " mean/std values for " + std::to_string(channels) + " channels");
  for (float s : stddev)
    if (!(s > 0)) bad("std values must be positive, got " + fmt(s));
}

std::string ImageTransform::describe() const {
  std::string train = random_resized_crop ? "rrc(" + fmt(scale_min) + "-" + fmt(scale_max) + ", " + fmt(ratio_min) +
                                                "-" + fmt(ratio_max) + ")"
                                          : "resize " + std::to_string(resize) + "/center " + std::to_string(crop);
  if (pad_crop) train += "+shift " + std::to_string(pad_crop);
  if (hflip) train += "+flip";
  std::string norm = "mean/std";
  if (mean.empty()) norm += " from data";
  else {
    norm += " (";
    for (size_t c = 0; c < mean.size(); ++c) norm += (c ? "," : "") + fmt(mean[c]);
    norm += " / ";
    for (size_t c = 0; c < stddev.size(); ++c) norm += (c ? "," : "") + fmt(stddev[c]);
    norm += ")";
  }
  return "train: " + train + "; eval: resize " + std::to_string(resize) + "/center " + std::to_string(crop) +
         "; -> " + std::to_string(channels) + "x" + std::to_string(crop) + "x" + std::to_string(crop) + ", " + norm;
}

CropBox random_resized_crop_box(int width, int height, const ImageTransform& t, std::mt19937_64& rng) {
  const double area = double(width) * height;
  const double log_r0 = std::log(double(t.ratio_min)), log_r1 = std::log(double(t.ratio_max));
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * uniform(rng, t.scale_min, t.scale_max);
    double aspect = std::exp(uniform(rng, log_r0, log_r1));
    int w = static_cast<int>(std::lround(std::sqrt(target * aspect)));
    int h = static_cast<int>(std::lround(std::sqrt(target / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      CropBox b;
      b.h = h;
      b.w = w;
      b.y = randint(rng, 0, height - h);
      b.x = randint(rng, 0, width - w);
      return b;
    }
  }
  // Fallback (very elongated images): the whole image, trimmed to the nearest allowed ratio.
  CropBox b;
  double in_ratio = double(width) / height;
  if (in_ratio < t.ratio_min) {
    b.w = width;
    b.h = std::max(1, std::min(height, static_cast<int>(std::lround(width / double(t.ratio_min)))));
  } else if (in_ratio > t.ratio_max) {
    b.h = height;
    b.w = std::max(1, std::min(width, static_cast<int>(std::lround(height * double(t.ratio_max)))));
  } else {
    b.w = width;
    b.h = height;
  }
  b.y = (height - b.h) / 2;
  b.x = (width - b.w) / 2;
  return b;
}

void resized_dims(int width, int height, int shorter, int* out_w, int* out_h) {
  if (width <= height) {
    *out_w = shorter;
    *out_h = std::max(1, static_cast<int>(int64_t(shorter) * height / width));
  } else {
    *out_h = shorter;
    *out_w = std::max(1, static_cast<int>(int64_t(shorter) * width / height));
  }
}

void transform_image(const ImageView& img, const ImageTransform& t, bool augment, std::mt19937_64& rng, float* out) {
  if (img.channels != t.channels)
    throw Error("transform_image: image has " + std::to_string(img.channels) + " channels, transform wants " +
                std::to_string(t.channels));
  if (img.width <= 0 || img.height <= 0 || !img.pixels) throw Error("transform_image: empty image");
  const int C = t.channels, S = t.crop;
  // Per-thread scratch: loader threads call this for every sample, so reuse, never shrink.
  thread_local std::vector<uint8_t> resized, square;
  square.resize(size_t(S) * S * C);

  if (augment && t.random_resized_crop) {
    CropBox b = random_resized_crop_box(img.width, img.height, t, rng);
    resize_box(img, b.x, b.y, b.w, b.h, square.data(), S, S);
  } else {
    int rw, rh;
    resized_dims(img.width, img.height, t.resize, &rw, &rh);
    // A strip of an image (1 x 32768 px is within the decoder's limits) resized to a shorter side
    // of 256 would be 256 x 8 M pixels: bound the intermediate as the decoder bounds images.
    if (int64_t(rw) * rh > kMaxImagePixels)
      throw Error("image of " + std::to_string(img.width) + "x" + std::to_string(img.height) + " px: resizing its shorter side to " +
                  std::to_string(t.resize) + " px would make " + std::to_string(rw) + "x" + std::to_string(rh) +
                  " px, more than the " + std::to_string(kMaxImagePixels) + "-pixel limit (aspect ratio too extreme)");
    ImageView r = img;
    if (rw != img.width || rh != img.height) {
      resized.resize(size_t(rw) * rh * C);
      resize_box(img, 0, 0, img.width, img.height, resized.data(), rw, rh);
      r = ImageView{resized.data(), rw, rh, C};
    }
    // torchvision CenterCrop: offsets rounded to nearest.
    int y0 = static_cast<int>(std::lround((rh - S) / 2.0)), x0 = static_cast<int>(std::lround((rw - S) / 2.0));
    resize_box(r, x0, y0, S, S, square.data(), S, S);  // same size: a copy
  }

  // Same draw order as the IDX path: shift y, shift x, then flip.
  int dy = 0, dx = 0;
  bool flip = false;
  if (augment) {
    if (t.pad_crop > 0) {
      dy = randint(rng, -t.pad_crop, t.pad_crop);
      dx = randint(rng, -t.pad_crop, t.pad_crop);
    }
    if (t.hflip) flip = (rng() & 1) != 0;
  }

  for (int c = 0; c < C; ++c) {
    const float mean = t.mean.empty() ? 0.f : t.mean[size_t(c)];
    const float sd = t.stddev.empty() ? 1.f : t.stddev[size_t(c)];
    const float scale = 1.f / (255.f * sd), shift = -mean / sd;
    float* o = out + size_t(c) * S * S;
    for (int y = 0; y < S; ++y) {
      const int sy = y + dy;
      float* orow = o + size_t(y) * S;
      if (sy < 0 || sy >= S) {
        std::fill(orow, orow + S, shift);  // zero pixel, normalised
        continue;
      }
      const uint8_t* srow = square.data() + size_t(sy) * S * C + c;
      for (int x = 0; x < S; ++x) {
        const int sx = (flip ? S - 1 - x : x) + dx;
        orow[x] = (sx >= 0 && sx < S) ? srow[size_t(sx) * C] * scale + shift : shift;
      }
    }
  }
}

}  // namespace trim
