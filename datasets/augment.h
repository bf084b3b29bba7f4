// augment.h - from decoded 8-bit pixels to the normalised CHW floats a model eats.
//
// Evaluation: resize the shorter side to `resize`, take the central crop x crop square.
// Training: either a random-resized crop (a box of random area and aspect ratio, resized to
// crop x crop, as in the Inception / torchvision ImageNet recipe) or the evaluation geometry,
// then optionally a random shift with zero fill (`pad_crop`, the small-image recipe of the IDX
// path) and a random horizontal flip. Last, per channel: (pixel / 255 - mean) / stddev.
//
// Every random choice draws from the rng passed in and from nothing else, so a sample's
// augmentation is a pure function of the rng state: the same whatever thread runs it.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "datasets/image_decode.h"

namespace trim {

struct ImageTransform {
  int channels = 3;   // 1: grey, 3: RGB (decoding converts whatever the file holds)
  int resize = 256;   // evaluation: shorter side resized to this...
  int crop = 224;     // ...then the central crop x crop square; every output is crop x crop
  bool random_resized_crop = true;                  // training geometry (false: as evaluation)
  float scale_min = 0.08f, scale_max = 1.0f;        // box area as a fraction of the image
  float ratio_min = 3.0f / 4, ratio_max = 4.0f / 3;  // box aspect ratio, width / height
  int pad_crop = 0;   // training: shift by up to this many pixels each way, zero fill (0: off)
  bool hflip = true;  // training: mirror with probability 1/2
  // Per channel, on pixels scaled to [0, 1]. Empty: estimated from the training images by
  // open_image_dataset (the way the IDX path uses the data set's own statistics).
  std::vector<float> mean{0.485f, 0.456f, 0.406f};
  std::vector<float> stddev{0.229f, 0.224f, 0.225f};

  // The ImageNet recipe: 224 crop from 256, random-resized crop + flip, ImageNet mean/std
  // (for 1 channel, the mean of the three RGB figures).
  static ImageTransform imagenet(int channels = 3);
  // Small images used as they are (Fashion-MNIST-sized folders): resize = crop = size, no
  // random-resized crop (a 28-px image cannot lose 92% of its area), shift by size/14 px
  // (2 at 28 px, like the IDX path) and flip for training, statistics estimated from the data.
  static ImageTransform sized(int size, int channels);

  void validate() const;         // Error naming the offending field
  std::string describe() const;  // "train: rrc(0.08-1, 0.75-1.33)+flip -> 3x224x224; eval: 256/center 224"
};

struct CropBox {
  int x = 0, y = 0, w = 0, h = 0;
};

// torchvision's RandomResizedCrop box: up to 10 draws of area and log-uniform aspect ratio,
// then a central box of the clamped ratio. Always inside the image, w and h >= 1.
CropBox random_resized_crop_box(int width, int height, const ImageTransform& t, std::mt19937_64& rng);

// Size of an image whose shorter side is resized to `shorter` (torchvision Resize(int): the
// longer side is truncated, never shorter than 1).
void resized_dims(int width, int height, int shorter, int* out_w, int* out_h);

// Writes t.channels x t.crop x t.crop floats to out. img.channels must equal t.channels.
// Evaluation never touches rng; training draws only from it.
void transform_image(const ImageView& img, const ImageTransform& t, bool augment, std::mt19937_64& rng, float* out);

}  // namespace trim
