#include "datasets/image_decode.h"

#include "framework/strings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "framework/tensor.h"

// stb_image's implementation lives in this translation unit (resizing is trim's own, below,
// checked against stb_image_resize in tests/test_image_decode.cpp). Only the formats the image-folder
// layouts accept are compiled in, so a GIF or PSD renamed to .jpg is rejected, not decoded. The
// stb_image.h included here is Debian's 2.27 with stb 2.28's JPEG bit-count checks added at
// configure time (cmake/stb_image_patched.cmake); the other hazards of 2.27 are refused below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS 32768
#define STB_IMAGE_IMPLEMENTATION
#include "stb_image.h"
#pragma GCC diagnostic pop
#include "stb_image_write.h"  // its implementation: datasets/stb_image_write.cpp
static_assert(STBI_MAX_DIMENSIONS == trim::kMaxImageSide, "keep stb's own limit equal to ours");

namespace trim {

namespace {

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}


uint32_t le16(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }
uint32_t le32(const uint8_t* p) { return le16(p) | le16(p + 2) << 16; }

// stb_image reads past the end of a BMP as zeros and reports success, so a cut-off BMP would
// load with black rows. Uncompressed BMPs (the only kind stb decodes) say exactly how many
// bytes their pixels need: the pixel-data offset plus padded rows times height.
// Returns the byte count required, or 0 when the header is not one we can size.
uint64_t bmp_bytes_needed(const uint8_t* d, size_t n) {
  if (n < 26 || d[0] != 'B' || d[1] != 'M') return 0;
  uint64_t offset = le32(d + 10), header = le32(d + 14), w, h, bpp;
  if (header == 12) {  // OS/2 core header: 16-bit sizes
    w = le16(d + 18);
    h = le16(d + 20);
    bpp = le16(d + 24);
  } else if (header >= 40 && n >= 34) {
    // stb refuses compression 1, 2 (RLE) and 4 and up, and decodes everything else - 0, 3 and,
    // read as a signed int, every garbage value above 2^31 - as uncompressed rows.
    const int32_t compress = static_cast<int32_t>(le32(d + 30));
    if (compress == 1 || compress == 2 || compress >= 4) return 0;
    w = static_cast<uint64_t>(std::abs(static_cast<int32_t>(le32(d + 18))));
    h = static_cast<uint64_t>(std::abs(static_cast<int32_t>(le32(d + 22))));  // negative: top-down rows
    bpp = le16(d + 28);
  } else {
    return 0;
  }
  return offset + (bpp * w + 31) / 32 * 4 * h;
}

// stb_image 2.27 (Debian 12) trusts the code counts of a JPEG Huffman table (DHT): counts
// summing past 256 write past its 257-entry size table and 256-entry value table (fixed in stb
// 2.28). Every DHT segment stb could read is checked first, walking the file as stb does:
// segments by their length, junk between them skipped byte by byte (stb tolerates it before the
// frame header), entropy-coded data after a scan header up to the next real marker (not a
// stuffed 0xFF00 or a restart marker). Returns false when a table is oversized.
bool jpeg_huffman_tables_fit(const uint8_t* d, size_t n) {
  // The start-of-image marker, after as many 0xFF fill bytes as stb skips there.
  if (n < 2 || d[0] != 0xff) return true;
  size_t p = 1;
  while (p < n && d[p] == 0xff) ++p;
  if (p >= n || d[p] != 0xd8) return true;  // not a JPEG
  ++p;
  while (p + 1 < n) {
    if (d[p] != 0xff) {  // junk where a marker belongs
      ++p;
      continue;
    }
    while (p < n && d[p] == 0xff) ++p;  // fill bytes
    if (p >= n) break;
    const uint8_t m = d[p++];
    if (m == 0xd9) break;                                        // end of image
    if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) continue;  // no length
    if (p + 2 > n) break;
    const size_t len = size_t(d[p]) << 8 | d[p + 1];
    const size_t end = std::min(n, p + std::max<size_t>(len, 2));
    if (m == 0xc4) {  // as stb's DHT reader: tables until the segment length is used up; stb
                      // reads zeros past the end of the file
      size_t q = p + 2;
      for (long left = long(len) - 2; left > 0 && q < n;) {
        size_t codes = 0;
        for (size_t i = q + 1; i <= q + 16 && i < n; ++i) codes += d[i];
        if (codes > 256) return false;
        q += 17 + codes;
        left -= long(17 + codes);
      }
    }
    p = end;
    if (m == 0xda)  // scan data: up to the next marker that is neither 0xFF00 nor a restart
      while (p + 1 < n && !(d[p] == 0xff && d[p + 1] != 0x00 && !(d[p + 1] >= 0xd0 && d[p + 1] <= 0xd7))) ++p;
  }
  return true;
}

// stb_image 2.27 copies a zero-length PNG IDAT chunk that comes before any image data to a
// null buffer (memcpy(NULL, ..., 0): undefined, caught by UBSan). Harmless in practice, but
// such a file is never written by an encoder, so it is refused. Chunks are walked as stb does.
bool png_has_empty_leading_idat(const uint8_t* d, size_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (n < 8 || std::memcmp(d, sig, 8) != 0) return false;
  for (size_t p = 8; p + 8 <= n;) {
    const uint32_t len = uint32_t(d[p]) << 24 | uint32_t(d[p + 1]) << 16 | uint32_t(d[p + 2]) << 8 | d[p + 3];
    const char* type = reinterpret_cast<const char*>(d + p + 4);
    if (std::memcmp(type, "IDAT", 4) == 0) return len == 0;  // the first IDAT decides
    if (std::memcmp(type, "IEND", 4) == 0) break;
    p += 12 + size_t(len);
  }
  return false;
}

// Inputs that would take stb_image 2.27 into undefined behaviour: Error naming the file.
void refuse_stb_hazards(const uint8_t* d, size_t n, const std::string& name) {
  if (!jpeg_huffman_tables_fit(d, n)) throw Error(name + ": corrupt JPEG (a Huffman table has more than 256 codes)");
  if (png_has_empty_leading_idat(d, n)) throw Error(name + ": unsupported PNG (an empty IDAT chunk before the image data)");
}

}  // namespace

bool has_image_extension(const std::string& name) {
  std::string l = lower(name);
  return ends_with(l, ".jpg") || ends_with(l, ".jpeg") || ends_with(l, ".png") || ends_with(l, ".bmp");
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  // O_NONBLOCK: a FIFO opens at once (and is refused by fstat below) instead of waiting for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  if (st.st_size > kMaxImageFileBytes) {
    ::close(fd);
    throw Error(path + ": " + std::to_string(st.st_size) + " bytes, larger than the " +
                std::to_string(kMaxImageFileBytes) + "-byte limit for an image");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int err = errno;
      ::close(fd);
      throw Error(path + ": read failed after " + std::to_string(got) + " bytes" +
                  (r < 0 ? std::string(" (") + std::strerror(err) + ")" : std::string(" (file shrank)")));
    }
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return bytes;
}

Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& name) {
  if (channels != 1 && channels != 3)
    throw Error(name + ": cannot decode to " + std::to_string(channels) + " channels (1 or 3)");
  if (size == 0) throw Error(name + ": empty file (0 bytes)");
  if (size > size_t(kMaxImageFileBytes)) throw Error(name + ": too large to be an image");
  const int len = static_cast<int>(size);
  int w = 0, h = 0, comp = 0;
  refuse_stb_hazards(data, size, name);
  // Header only: refuse absurd sizes before the decoder allocates w*h*channels bytes.
  if (!stbi_info_from_memory(data, len, &w, &h, &comp))
    throw Error(name + ": not a readable JPEG, PNG or BMP image (" + stbi_failure_reason() + ")");
  if (w <= 0 || h <= 0 || w > kMaxImageSide || h > kMaxImageSide || int64_t(w) * h > kMaxImagePixels)
    throw Error(name + ": image header claims " + std::to_string(w) + "x" + std::to_string(h) +
                " pixels, beyond the " + std::to_string(kMaxImageSide) + "-px side / " +
                std::to_string(kMaxImagePixels) + "-pixel limit");
  if (uint64_t need = bmp_bytes_needed(data, size); need > size)
    throw Error(name + ": truncated BMP (" + std::to_string(size) + " of " + std::to_string(need) + " bytes)");
  int dw = 0, dh = 0, dc = 0;
  stbi_uc* px = stbi_load_from_memory(data, len, &dw, &dh, &dc, channels);
  if (!px) {
    // stb tries the PNG signature before decoding a JPEG or BMP, and those decoders often fail
    // without a reason of their own: "bad png sig" then describes the wrong format.
    const bool png = size >= 8 && std::memcmp(data, "\x89PNG", 4) == 0;
    const char* kind = png ? "PNG" : size >= 2 && data[0] == 0xff && data[1] == 0xd8 ? "JPEG" : data[0] == 'B' ? "BMP" : "image";
    const char* why = stbi_failure_reason();
    const bool stale = !png && why && std::strcmp(why, "bad png sig") == 0;
    throw Error(name + ": corrupt or truncated " + kind + (why && !stale ? std::string(" (") + why + ")" : std::string()));
  }
  if (dw != w || dh != h) {  // cannot happen with a sane decoder; never trust a size we did not check
    stbi_image_free(px);
    throw Error(name + ": decoder returned " + std::to_string(dw) + "x" + std::to_string(dh) +
                " but the header says " + std::to_string(w) + "x" + std::to_string(h));
  }
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.assign(px, px + size_t(w) * h * channels);
  stbi_image_free(px);
  return img;
}

ImageInfo read_image_info(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  if (bytes.empty()) throw Error(path + ": empty file (0 bytes)");
  ImageInfo info;
  refuse_stb_hazards(bytes.data(), bytes.size(), path);
  if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &info.width, &info.height, &info.channels))
    throw Error(path + ": not a readable JPEG, PNG or BMP image (" + stbi_failure_reason() + ")");
  return info;
}

Image read_image(const std::string& path, int channels) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), channels, path);
}

namespace {

// 1-D taps of the antialiased triangle filter from `in` to `out` samples, in fixed point.
// Sample centres sit at (i + 0.5) * in / out; when shrinking the triangle is widened to the
// scale so that every input sample contributes (PIL's and torchvision's antialiased
// bilinear). Taps beyond either end fall on the edge sample (clamp, as stb_image_resize's
// STBIR_EDGE_CLAMP), so a box of an image behaves like a cropped image.
constexpr int kWeightBits = 14;
struct Taps {
  int max_taps = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weight;  // out x max_taps, each row sums to 1 << kWeightBits
};

Taps triangle_taps(int in, int out) {
  const double scale = double(in) / out, support = std::max(scale, 1.0);
  Taps t;
  t.max_taps = 2 * static_cast<int>(std::ceil(support)) + 2;
  t.first.resize(size_t(out));
  t.count.resize(size_t(out));
  t.weight.assign(size_t(out) * t.max_taps, 0);
  std::vector<double> w(size_t(t.max_taps) + 2);
  for (int i = 0; i < out; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = static_cast<int>(std::floor(center - support)), hi = static_cast<int>(std::ceil(center + support));
    // Accumulate onto clamped indices: first..last stays within [0, in).
    const int first = std::max(0, lo), last = std::min(in - 1, hi);
    std::fill(w.begin(), w.end(), 0.0);
    double total = 0;
    for (int j = lo; j <= hi; ++j) {
      double v = 1.0 - std::fabs((j + 0.5 - center) / support);
      if (v <= 0) continue;
      w[size_t(std::min(std::max(j, first), last) - first)] += v;
      total += v;
    }
    int n = last - first + 1, skip = 0;
    while (n > 1 && w[size_t(skip)] == 0) ++skip, --n;  // drop zero taps at both ends
    while (n > 1 && w[size_t(skip + n - 1)] == 0) --n;
    t.first[size_t(i)] = first + skip;
    t.count[size_t(i)] = n;
    int32_t* dst = &t.weight[size_t(i) * t.max_taps];
    int32_t sum = 0, big = 0;
    for (int k = 0; k < n; ++k) {
      dst[k] = static_cast<int32_t>(std::lround(w[size_t(skip + k)] / total * (1 << kWeightBits)));
      sum += dst[k];
      if (dst[k] > dst[big]) big = k;
    }
    dst[big] += (1 << kWeightBits) - sum;  // exact unit gain: a flat image stays flat
  }
  return t;
}

inline uint8_t to_byte(int32_t acc) {
  int32_t v = (acc + (1 << (kWeightBits - 1))) >> kWeightBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One row, horizontally: C channels interleaved (C fixed at compile time for 1 and 3).
template <int C>
void resample_row(const uint8_t* in, uint8_t* out, int out_w, const Taps& t, int channels) {
  const int ch = C > 0 ? C : channels;
  for (int i = 0; i < out_w; ++i) {
    const int32_t* w = &t.weight[size_t(i) * t.max_taps];
    const uint8_t* p = in + size_t(t.first[size_t(i)]) * ch;
    const int n = t.count[size_t(i)];
    for (int c = 0; c < ch; ++c) {
      int32_t acc = 0;
      for (int k = 0; k < n; ++k) acc += w[k] * p[k * ch + c];
      out[size_t(i) * ch + c] = to_byte(acc);
    }
  }
}

}  // namespace

void resize_box(const ImageView& src, int x, int y, int w, int h, uint8_t* dst, int dst_w, int dst_h) {
  if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > src.width || y + h > src.height || dst_w <= 0 || dst_h <= 0)
    throw Error("resize_box: box (" + std::to_string(x) + ", " + std::to_string(y) + ", " + std::to_string(w) + "x" +
                std::to_string(h) + ") to " + std::to_string(dst_w) + "x" + std::to_string(dst_h) +
                " does not fit a " + std::to_string(src.width) + "x" + std::to_string(src.height) + " image");
  const int c = src.channels;
  const size_t stride = size_t(src.width) * c, row = size_t(dst_w) * c;
  const uint8_t* origin = src.pixels + size_t(y) * stride + size_t(x) * c;
  if (w == dst_w && h == dst_h) {  // a plain crop: copy rows
    for (int r = 0; r < h; ++r) std::memcpy(dst + r * row, origin + r * stride, row);
    return;
  }
  // Separable: horizontal pass into rows of dst_w pixels (skipped when the width is kept),
  // then the vertical pass, which runs along whole rows and so vectorises.
  thread_local std::vector<uint8_t> tmp;
  thread_local std::vector<int32_t> acc;
  const uint8_t* rows = origin;
  size_t rows_stride = stride;
  if (w != dst_w) {
    const Taps tx = triangle_taps(w, dst_w);
    tmp.resize(size_t(h) * row);
    for (int r = 0; r < h; ++r) {
      const uint8_t* in = origin + r * stride;
      uint8_t* out = tmp.data() + r * row;
      if (c == 3) resample_row<3>(in, out, dst_w, tx, c);
      else if (c == 1) resample_row<1>(in, out, dst_w, tx, c);
      else resample_row<0>(in, out, dst_w, tx, c);
    }
    rows = tmp.data();
    rows_stride = row;
  }
  if (h == dst_h) {
    for (int r = 0; r < h; ++r) std::memcpy(dst + r * row, rows + r * rows_stride, row);
    return;
  }
  const Taps ty = triangle_taps(h, dst_h);
  acc.resize(row);
  for (int i = 0; i < dst_h; ++i) {
    const int32_t* wt = &ty.weight[size_t(i) * ty.max_taps];
    int32_t* a = acc.data();
    std::fill(a, a + row, 0);
    for (int k = 0; k < ty.count[size_t(i)]; ++k) {
      const uint8_t* in = rows + size_t(ty.first[size_t(i)] + k) * rows_stride;
      const int32_t wk = wt[k];
      for (size_t j = 0; j < row; ++j) a[j] += wk * in[j];
    }
    uint8_t* out = dst + i * row;
    for (size_t j = 0; j < row; ++j) out[j] = to_byte(a[j]);
  }
}

Image resize_image(const ImageView& src, int dst_w, int dst_h) {
  Image out(dst_w, dst_h, src.channels);
  resize_box(src, 0, 0, src.width, src.height, out.pixels.data(), dst_w, dst_h);
  return out;
}

void write_image(const std::string& path, const ImageView& img, int jpeg_quality) {
  if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4)
    throw Error(path + ": cannot write an image of " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                "x" + std::to_string(img.channels));
  std::string l = lower(path);
  int ok = 0;
  if (ends_with(l, ".png"))
    ok = stbi_write_png(path.c_str(), img.width, img.height, img.channels, img.pixels, img.width * img.channels);
  else if (ends_with(l, ".jpg") || ends_with(l, ".jpeg"))
    ok = stbi_write_jpg(path.c_str(), img.width, img.height, img.channels, img.pixels,
                        std::min(100, std::max(1, jpeg_quality)));
  else if (ends_with(l, ".bmp"))
    ok = stbi_write_bmp(path.c_str(), img.width, img.height, img.channels, img.pixels);
  else
    throw Error(path + ": unknown image extension (use .png, .jpg, .jpeg or .bmp)");
  if (!ok) throw Error(path + ": writing the image failed (" + std::strerror(errno) + ")");
}

}  // namespace trim
