// fuzz_image - image decoding (JPEG, PNG, BMP through stb_image, with trim's header and
// truncation checks) and the resize / crop / augmentation path every decoded image takes.
//
// Input: three parameter bytes, then the image file.
//   byte 0: bit 0 channels (1 or 3), bit 1 random-resized crop, bit 2 flip, bits 3-4 shift
//   byte 1: crop size 1..64      byte 2: resize = crop + 0..63      then the file bytes.
// Whatever decodes is transformed for evaluation and (twice) for training (either may refuse
// it with trim::Error), and resized to a size taken from the parameters; the output must be
// finite.
#include <cmath>
#include <random>

#include "datasets/augment.h"
#include "fuzz/fuzz_target.h"

TRIM_FUZZ_TARGET(image) {
  if (size < 3) return false;
  trim::ImageTransform t;
  t.channels = (data[0] & 1) ? 3 : 1;
  t.random_resized_crop = (data[0] & 2) != 0;
  t.hflip = (data[0] & 4) != 0;
  t.crop = 1 + data[1] % 64;
  t.resize = t.crop + data[2] % 64;
  t.pad_crop = std::min((data[0] >> 3) & 3, t.crop - 1);
  t.mean.clear();
  t.stddev.clear();
  t.validate();
  trim::Image img;
  if (!trim::fuzz::accepted([&] { img = trim::decode_image(data + 3, size - 3, t.channels, "fuzz.img"); })) return false;
  if (img.width <= 0 || img.height <= 0 || img.channels != t.channels ||
      img.pixels.size() != size_t(img.width) * img.height * img.channels)
    trim::fuzz::invariant_failed("decode_image returned an image whose size does not match its pixels");
  std::vector<float> out(size_t(t.channels) * t.crop * t.crop);
  std::mt19937_64 rng(data[1] * 257u + data[2]);
  for (bool augment : {false, true, true}) {
    // Refusing an image here is fine too (an aspect ratio too extreme to resize, say).
    if (!trim::fuzz::accepted([&] { trim::transform_image(img.view(), t, augment, rng, out.data()); })) return false;
    for (float v : out)
      if (!std::isfinite(v)) trim::fuzz::invariant_failed("transform_image produced a non-finite value");
  }
  trim::Image small = trim::resize_image(img.view(), t.crop, t.resize - t.crop + 1);
  if (small.width != t.crop || small.height != t.resize - t.crop + 1) trim::fuzz::invariant_failed("resize_image size");
  return true;
}
