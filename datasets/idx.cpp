#include "datasets/idx.h"

#include "framework/file_io.h"

#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sys/stat.h>

namespace trim {

namespace {

uint32_t be32(const std::string& b, size_t off) {
  return (uint32_t(uint8_t(b[off])) << 24) | (uint32_t(uint8_t(b[off + 1])) << 16) |
         (uint32_t(uint8_t(b[off + 2])) << 8) | uint32_t(uint8_t(b[off + 3]));
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(std::string name, std::vector<uint8_t> pixels, std::vector<uint8_t> labels, int h, int w,
             std::vector<std::string> names, IdxOptions aug)
      : name_(std::move(name)), pixels_(std::move(pixels)), labels_(std::move(labels)), h_(h), w_(w),
        names_(std::move(names)), aug_(aug), mean_(aug.mean), std_(aug.std) {
    if (!(std_ > 0.f)) throw Error(name_ + ": normalisation std must be positive");
  }
  size_t size() const override { return labels_.size(); }
  Shape sample_shape() const override { return Shape{1, h_, w_}; }
  int num_classes() const override { return static_cast<int>(names_.size()); }
  std::vector<std::string> class_names() const override { return names_; }
  int label(size_t i) const override { return labels_[i]; }
  std::string describe() const override {
    return name_ + " (" + std::to_string(size()) + " images " + std::to_string(h_) + "x" + std::to_string(w_) + ", " +
           std::to_string(names_.size()) + " classes)";
  }
  bool load(size_t i, float* out, bool augment, std::mt19937_64& rng) const override {
    const uint8_t* img = pixels_.data() + i * static_cast<size_t>(h_ * w_);
    const float scale = 1.f / (255.f * std_), shift = -mean_ / std_;
    int dy = 0, dx = 0;
    bool flip = false;
    if (augment) {
      if (aug_.pad_crop > 0) {
        int span = 2 * aug_.pad_crop + 1;
        dy = static_cast<int>(rng() % static_cast<uint64_t>(span)) - aug_.pad_crop;
        dx = static_cast<int>(rng() % static_cast<uint64_t>(span)) - aug_.pad_crop;
      }
      if (aug_.flip) flip = (rng() & 1) != 0;
    }
    for (int y = 0; y < h_; ++y)
      for (int x = 0; x < w_; ++x) {
        int sy = y + dy, sx = (flip ? w_ - 1 - x : x) + dx;
        float v = (sy >= 0 && sy < h_ && sx >= 0 && sx < w_) ? img[sy * w_ + sx] : 0;
        out[y * w_ + x] = v * scale + shift;
      }
    return true;
  }

 private:
  std::string name_;
  std::vector<uint8_t> pixels_, labels_;
  int h_, w_;
  std::vector<std::string> names_;
  IdxOptions aug_;
  float mean_, std_;
};

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

std::string read_maybe_gzip(const std::string& path) {
  require_regular_file(path, "IDX file");  // gzopen would block on a FIFO, read a device forever
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files transparently too
  if (!f) throw Error(path + ": cannot open");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw Error(path + ": corrupt gzip data (" + msg + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (size_t(4) << 30)) {
      gzclose(f);
      throw Error(path + ": larger than 4 GiB uncompressed; refusing");
    }
  }
  // gzread stops quietly at a truncated gzip stream; gzclose/gzerror report it.
  int err = Z_OK;
  gzerror(f, &err);
  int rc = gzclose(f);
  if (err != Z_OK || (rc != Z_OK && rc != Z_BUF_ERROR)) throw Error(path + ": corrupt or truncated gzip data");
  if (rc == Z_BUF_ERROR) throw Error(path + ": truncated gzip data");
  return out;
}

std::shared_ptr<Dataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                  const std::string& name, std::vector<std::string> class_names,
                                  const IdxOptions& opt) {
  std::string im = read_maybe_gzip(images_path), lb = read_maybe_gzip(labels_path);
  if (im.size() < 16 || be32(im, 0) != 0x00000803)
    throw Error(images_path + ": not an IDX image file (expected magic 0x00000803)");
  if (lb.size() < 8 || be32(lb, 0) != 0x00000801)
    throw Error(labels_path + ": not an IDX label file (expected magic 0x00000801)");
  uint32_t n = be32(im, 4), h = be32(im, 8), w = be32(im, 12), nl = be32(lb, 4);
  if (h == 0 || w == 0 || h > 4096 || w > 4096) throw Error(images_path + ": bad image size " + std::to_string(h) + "x" + std::to_string(w));
  if (n == 0) throw Error(images_path + ": holds no images");
  if (im.size() - 16 < static_cast<size_t>(n) * h * w)
    throw Error(images_path + ": truncated: header says " + std::to_string(n) + " images of " + std::to_string(h) + "x" +
                std::to_string(w) + " but the file holds " + std::to_string((im.size() - 16) / (h * w)));
  if (lb.size() - 8 < nl) throw Error(labels_path + ": truncated: header says " + std::to_string(nl) + " labels");
  if (nl != n)
    throw Error(labels_path + ": " + std::to_string(nl) + " labels but " + images_path + " holds " + std::to_string(n) + " images");
  std::vector<uint8_t> pixels(im.begin() + 16, im.begin() + 16 + static_cast<long>(n) * h * w);
  std::vector<uint8_t> labels(lb.begin() + 8, lb.begin() + 8 + n);
  int maxl = 0;
  for (uint8_t l : labels) maxl = std::max<int>(maxl, l);
  if (class_names.empty())
    for (int c = 0; c <= maxl; ++c) class_names.push_back(std::to_string(c));
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= class_names.size())
      throw Error(labels_path + ": label " + std::to_string(labels[i]) + " of item " + std::to_string(i) +
                  " is out of range (" + std::to_string(class_names.size()) + " classes)");
  return std::make_shared<IdxDataset>(name, std::move(pixels), std::move(labels), static_cast<int>(h),
                                      static_cast<int>(w), std::move(class_names), opt);
}

std::shared_ptr<Dataset> load_fashion_mnist(const std::string& dir, bool train, const IdxOptions& opt) {
  std::string prefix = train ? "train" : "t10k";
  auto pick = [&](const std::string& base) {
    std::string p = dir + "/" + base;
    if (file_exists(p + ".gz")) return p + ".gz";
    if (file_exists(p)) return p;
    throw Error(p + "[.gz]: not found (Fashion-MNIST comes from the Debian package dataset-fashion-mnist; "
                "run 'make deps' or pass --data <folder>)");
  };
  std::string images = pick(prefix + "-images-idx3-ubyte"), labels = pick(prefix + "-labels-idx1-ubyte");
  return load_idx(images, labels, std::string("Fashion-MNIST ") + (train ? "train" : "test"),
                  {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
                  opt);
}

}  // namespace trim
