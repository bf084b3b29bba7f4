// image_decode.h - reading image files into 8-bit pixels (stb_image), resizing them (an
// antialiased bilinear resampler of our own: within one level of stb_image_resize's triangle
// filter, ~20% faster, and free of its coefficient assertion on some crop ratios) and writing
// them (stb_image_write).
//
// Pixels are kept as interleaved uint8 rows (height x width x channels) until the very last
// step, where augment.h turns them into normalised CHW floats: uint8 is a quarter of the memory
// traffic and is what the decoders produce anyway.
//
// Every failure throws trim::Error naming the file. A decoder is never handed an image whose
// header claims absurd dimensions. Truncation: stb_image's JPEG decoder insists on the
// end-of-image marker and its PNG decoder on complete compressed data, but its BMP decoder
// reads missing rows as zeros, so BMP sizes are checked here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace trim {

// Limits applied to the header before anything is allocated. The largest ImageNet photo is
// under 5000 px a side; 64 Mpx of RGB is 192 MiB per loader thread, the most we accept.
constexpr int kMaxImageSide = 32768;
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;
constexpr int64_t kMaxImageFileBytes = int64_t(1) << 30;

// A borrowed image: rows of width*channels bytes, tightly packed.
struct ImageView {
  const uint8_t* pixels = nullptr;
  int width = 0, height = 0, channels = 0;
};

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height x width x channels

  Image() = default;
  Image(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  ImageView view() const { return ImageView{pixels.data(), width, height, channels}; }
  uint8_t& at(int x, int y, int c) { return pixels[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int x, int y, int c) const { return pixels[(size_t(y) * width + x) * channels + c]; }
};

// True for names ending in .jpg, .jpeg, .png or .bmp, in any case.
bool has_image_extension(const std::string& name);

// Whole file into memory. Error (naming path) when it cannot be opened or read, or is larger
// than kMaxImageFileBytes.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Decodes a JPEG, PNG or BMP held in memory into `channels` (1: grey, 3: RGB) channels. Grey
// sources are replicated to RGB, RGB is turned into luma for grey, alpha is dropped. `name`
// only labels error messages (usually the path). Throws Error for an empty buffer, an unknown
// or corrupt format, a truncated file, or dimensions beyond the limits above.
Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& name);

// Size and stored channel count (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) from the header only.
struct ImageInfo {
  int width = 0, height = 0, channels = 0;
};
ImageInfo read_image_info(const std::string& path);  // Error naming path when unreadable

// read_file_bytes + decode_image.
Image read_image(const std::string& path, int channels);

// Bilinear (triangle filter, widened when shrinking so that every source pixel contributes,
// as PIL and torchvision's antialiased resize do) resize of the box (x, y, w, h) of src into
// dst_w x dst_h pixels written to dst (dst_w * dst_h * src.channels bytes). Pixels outside
// the box are not read: the box behaves like a cropped image with clamped edges.
void resize_box(const ImageView& src, int x, int y, int w, int h, uint8_t* dst, int dst_w, int dst_h);
Image resize_image(const ImageView& src, int dst_w, int dst_h);

// Writes img to path, format by extension (.png, .jpg/.jpeg, .bmp); jpeg_quality 1..100.
// Error naming the path on an unknown extension or a failed write.
void write_image(const std::string& path, const ImageView& img, int jpeg_quality = 90);

}  // namespace trim
