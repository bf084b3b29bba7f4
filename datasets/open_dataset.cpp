#include "datasets/open_dataset.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "datasets/image_folder.h"
#include "datasets/layouts.h"

namespace trim {

namespace fs = std::filesystem;

void ImageOptions::set_size(int size) {
  if (size < 1) throw Error("image size must be positive, got " + std::to_string(size));
  int channels = transform.channels;
  if (size < 64) {
    transform = ImageTransform::sized(size, channels);
  } else {
    transform = ImageTransform::imagenet(channels);
    transform.crop = size;
    transform.resize = static_cast<int>(std::lround(size * 256.0 / 224.0));
  }
  auto_size = false;
}

void ImageOptions::set_channels(int channels) {
  if (channels != 1 && channels != 3) throw Error("image channels must be 1 or 3, got " + std::to_string(channels));
  ImageTransform& t = transform;
  if (!t.mean.empty() && t.mean.size() != size_t(channels)) {
    // ImageNet statistics for grey: the average of the RGB figures; for RGB: the grey figure thrice.
    float m = 0, s = 0;
    for (size_t c = 0; c < t.mean.size(); ++c) {
      m += t.mean[c];
      s += t.stddev[c];
    }
    m /= float(t.mean.size());
    s /= float(t.mean.size());
    t.mean.assign(size_t(channels), m);
    t.stddev.assign(size_t(channels), s);
  }
  t.channels = channels;
  auto_channels = false;
}

namespace {

// A handful of training images, evenly spread, tell the channel count and whether the images
// are tiny and uniform (exported IDX data). Unreadable ones are ignored here; load() reports them.
void settle_transform(const std::vector<ImageSample>& train, ImageOptions* opt) {
  if (!opt->auto_size && !opt->auto_channels) return;
  const size_t probes = std::min<size_t>(16, train.size());
  int readable = 0, max_channels = 0, w0 = -1, h0 = -1;
  bool same = true;
  for (size_t k = 0; k < probes; ++k) {
    ImageInfo info;
    try {
      info = read_image_info(train[k * train.size() / probes].path);
    } catch (const Error&) {
      continue;
    }
    ++readable;
    max_channels = std::max(max_channels, info.channels);
    if (w0 < 0) {
      w0 = info.width;
      h0 = info.height;
    } else if (info.width != w0 || info.height != h0) {
      same = false;
    }
  }
  if (readable == 0) return;  // keep the defaults; the loader will report every bad file
  if (opt->auto_channels) opt->set_channels(max_channels <= 2 ? 1 : 3);
  if (opt->auto_size && same && std::max(w0, h0) <= 64) opt->set_size(std::min(w0, h0));
}

uint64_t name_hash(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string cache_folder(const std::string& root, const ImageOptions& opt) {
  std::vector<std::string> candidates;
  if (!opt.cache_dir.empty()) {
    candidates.push_back(opt.cache_dir);
  } else {
    candidates.push_back((fs::path(root) / ".trim-cache").string());
    const char* home = std::getenv("HOME");
    if (home && *home) candidates.push_back((fs::path(home) / ".cache" / "trim").string());
  }
  for (const std::string& dir : candidates) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!ec && ::access(dir.c_str(), W_OK) == 0) return dir;
  }
  throw Error(candidates.front() + ": cannot create a writable folder for the image cache");
}

void attach_cache(ImageFolderDataset& d, const std::string& root, const std::string& split, const ImageOptions& opt) {
  std::string dir = cache_folder(root, opt);
  std::error_code ec;
  std::string abs = fs::absolute(root, ec).lexically_normal().string();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(name_hash(abs + "|" + split + "|" + std::to_string(d.transform().channels) +
                                                          "|" + std::to_string(d.transform().resize))));
  std::string path = (fs::path(dir) / (split + "-" + hex + ".trimcache")).string();
  auto t0 = std::chrono::steady_clock::now();
  d.use_cache(path, opt.threads);
  if (d.cache()->built_now()) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "trim: built image cache %s (%zu images, %.1f MiB, %.1f s)\n", path.c_str(), d.size(),
                 d.cache()->file_bytes() / 1048576.0, s);
  }
}

}  // namespace

DataSplits open_image_dataset(const std::string& root, const ImageOptions& opt_in) {
  ImageOptions opt = opt_in;
  LayoutOptions lo;
  lo.caltech_background = opt.caltech_background;
  lo.val_labels = opt.val_labels;
  LayoutSplits ls = read_layout(root, lo);

  std::vector<ImageSample> train = std::move(ls.train), test = std::move(ls.test);
  std::string test_name = "test", split_tag;  // split_tag names carved splits' cache files apart
  if (!ls.has_test && opt.test_fraction > 0) {
    std::vector<int> labels;
    labels.reserve(train.size());
    for (const ImageSample& s : train) labels.push_back(s.label);
    SplitIndices parts = split_by_class(labels, 0.0, opt.test_fraction, opt.split_seed);
    std::vector<ImageSample> tr, te;
    for (size_t i : parts.train) tr.push_back(train[i]);
    for (size_t i : parts.test) te.push_back(train[i]);
    train = std::move(tr);
    test = std::move(te);
    char b[96];
    std::snprintf(b, sizeof b, "test (%g per class, seed %llu)", opt.test_fraction,
                  static_cast<unsigned long long>(opt.split_seed));
    test_name = b;
    std::snprintf(b, sizeof b, "-split%g-seed%llu", opt.test_fraction, static_cast<unsigned long long>(opt.split_seed));
    split_tag = b;
  }

  settle_transform(train, &opt);
  opt.transform.validate();
  const std::string where = std::string(layout_name(ls.layout)) + " " + root;
  auto tr = std::make_shared<ImageFolderDataset>(where + " train", std::move(train), ls.classes, opt.transform, opt.strict);
  std::shared_ptr<ImageFolderDataset> te;
  if (!test.empty())
    te = std::make_shared<ImageFolderDataset>(where + " " + test_name, std::move(test), ls.classes, opt.transform, opt.strict);

  if (opt.cache) {
    attach_cache(*tr, root, "train" + split_tag, opt);
    if (te) attach_cache(*te, root, "test" + split_tag, opt);
  }
  if (opt.transform.mean.empty()) {  // the data set's own statistics, from training images only
    ImageTransform t = opt.transform;
    tr->channel_stats(opt.stats_samples, opt.threads, &t.mean, &t.stddev);
    tr->set_transform(t);
    if (te) te->set_transform(t);
  }

  DataSplits out;
  out.train = tr;
  out.test = te;
  out.layout = std::string(layout_name(ls.layout)) + " at " + ls.root + ", " + std::to_string(ls.classes.size()) +
               " classes; " + tr->transform().describe();
  return out;
}

}  // namespace trim
