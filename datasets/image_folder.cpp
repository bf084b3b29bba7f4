#include "datasets/image_folder.h"

#include "framework/model_file.h"  // check_class_name: a class must survive NAME.classes

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>

namespace trim {

namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& p) {
  std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

}  // namespace

SampleList scan_image_folder(const std::string& root, const std::vector<std::string>& exclude) {
  std::error_code ec;
  fs::file_status st = fs::status(root, ec);
  if (ec || !fs::exists(st)) throw Error(root + ": image folder not found");
  if (!fs::is_directory(st)) throw Error(root + ": not a folder (expected root/<class>/<image>)");

  SampleList out;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (hidden(it->path())) continue;
    std::error_code e2;
    if (!it->is_directory(e2)) continue;  // loose files in root belong to no class
    std::string name = it->path().filename().string();
    if (std::find(exclude.begin(), exclude.end(), name) != exclude.end()) continue;
    out.classes.push_back(name);
  }
  if (ec) throw Error(root + ": cannot list folder (" + ec.message() + ")");
  if (out.classes.empty()) throw Error(root + ": no class folders (expected root/<class>/<image>)");
  std::sort(out.classes.begin(), out.classes.end());

  // Symbolic links to folders are followed (data sets are often linked in), but every folder is
  // read at most once, told apart by device and inode: a link back to an ancestor (a loop) or a
  // second way into a folder already read would count its images twice, possibly under two
  // classes, so it is an error naming both paths.
  std::map<std::pair<dev_t, ino_t>, std::string> visited;
  size_t ignored = 0;
  std::string first_ignored;
  for (size_t c = 0; c < out.classes.size(); ++c) {
    const std::string dir = (fs::path(root) / out.classes[c]).string();
    check_class_name(out.classes[c], dir);
    std::vector<std::string> files;
    std::vector<std::string> todo = {dir};
    while (!todo.empty()) {
      const std::string d = todo.back();
      todo.pop_back();
      struct stat ds;
      if (::stat(d.c_str(), &ds) != 0) throw Error(d + ": cannot open folder (" + std::strerror(errno) + ")");
      auto seen = visited.emplace(std::make_pair(ds.st_dev, ds.st_ino), d);
      if (!seen.second)
        throw Error(d + ": is the folder " + seen.first->second +
                    " again (a symbolic link loop, or a second link to it); its images would be counted twice");
      std::vector<std::string> subdirs;
      for (fs::directory_iterator it(d, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
           it.increment(ec)) {
        if (hidden(it->path())) continue;
        std::error_code e2;
        const std::string p = it->path().string();
        if (it->is_directory(e2)) {
          subdirs.push_back(p);
        } else if (it->is_regular_file(e2)) {
          if (has_image_extension(p)) files.push_back(p);
          else if (ignored++ == 0) first_ignored = p;
        }
      }
      if (ec) throw Error(d + ": cannot list folder (" + ec.message() + ")");
      std::sort(subdirs.rbegin(), subdirs.rend());  // visit in name order
      for (auto& sd : subdirs) todo.push_back(std::move(sd));
    }
    if (files.empty()) throw Error(dir + ": class folder holds no .jpg, .jpeg, .png or .bmp image");
    std::sort(files.begin(), files.end());
    for (std::string& f : files) out.samples.push_back(ImageSample{std::move(f), static_cast<int>(c)});
  }
  if (ignored)
    std::fprintf(stderr, "trim: warning: %s: ignored %zu file(s) without an image extension, e.g. %s\n", root.c_str(),
                 ignored, first_ignored.c_str());
  return out;
}

ImageFolderDataset::ImageFolderDataset(std::string name, std::vector<ImageSample> samples,
                                       std::vector<std::string> classes, const ImageTransform& transform, bool strict)
    : name_(std::move(name)), samples_(std::move(samples)), classes_(std::move(classes)), strict_(strict) {
  if (samples_.empty()) throw Error(name_ + ": no images");
  for (const ImageSample& s : samples_)
    if (s.label < 0 || s.label >= static_cast<int>(classes_.size()))
      throw Error(s.path + ": label " + std::to_string(s.label) + " outside the " + std::to_string(classes_.size()) +
                  " classes of " + name_);
  set_transform(transform);
}

void ImageFolderDataset::set_transform(const ImageTransform& t) {
  t.validate();
  if (cache_ && (cache_->channels() != t.channels || cache_->shorter() != t.resize))
    throw Error(cache_->path() + ": image cache was built for " + std::to_string(cache_->channels()) +
                " channels and size " + std::to_string(cache_->shorter()) + ", the new transform wants " +
                std::to_string(t.channels) + " and " + std::to_string(t.resize));
  transform_ = t;
}

Shape ImageFolderDataset::sample_shape() const { return Shape{transform_.channels, transform_.crop, transform_.crop}; }

std::string ImageFolderDataset::describe() const {
  return name_ + " (" + std::to_string(samples_.size()) + " images, " + std::to_string(classes_.size()) +
         " classes, " + std::to_string(transform_.channels) + "x" + std::to_string(transform_.crop) + "x" +
         std::to_string(transform_.crop) + (cache_ ? ", cached" : "") + ")";
}

void ImageFolderDataset::set_cache(std::shared_ptr<const ImageCache> cache) {
  if (cache && cache->size() != samples_.size())
    throw Error(cache->path() + ": image cache holds " + std::to_string(cache->size()) + " images, " + name_ + " has " +
                std::to_string(samples_.size()));
  if (cache && (cache->channels() != transform_.channels || cache->shorter() != transform_.resize))
    throw Error(cache->path() + ": image cache was built for " + std::to_string(cache->channels()) +
                " channels and size " + std::to_string(cache->shorter()) + ", " + name_ + " uses " +
                std::to_string(transform_.channels) + " and " + std::to_string(transform_.resize));
  cache_ = std::move(cache);
}

void ImageFolderDataset::use_cache(const std::string& path, int threads) {
  std::vector<std::string> files;
  files.reserve(samples_.size());
  for (const ImageSample& s : samples_) files.push_back(s.path);
  set_cache(ImageCache::open_or_build(path, files, transform_.channels, transform_.resize, threads));
}

Image ImageFolderDataset::decode(size_t i) const {
  if (i >= samples_.size())
    throw Error(name_ + ": sample " + std::to_string(i) + " out of range (" + std::to_string(samples_.size()) + ")");
  if (cache_) {
    ImageView v;
    if (!cache_->get(i, &v))
      throw Error(samples_[i].path + ": unreadable (recorded when the image cache " + cache_->path() + " was built)");
    Image img(v.width, v.height, v.channels);
    std::copy(v.pixels, v.pixels + img.pixels.size(), img.pixels.begin());
    return img;
  }
  return read_image(samples_[i].path, transform_.channels);
}

void ImageFolderDataset::note_unreadable(size_t i, const std::string& why) const {
  ++skipped_;
  std::lock_guard<std::mutex> lk(warn_mu_);
  if (warned_.insert(i).second) std::fprintf(stderr, "trim: warning: skipping unreadable image: %s\n", why.c_str());
}

std::vector<std::string> ImageFolderDataset::skipped_files() const {
  std::lock_guard<std::mutex> lk(warn_mu_);
  std::vector<std::string> out;
  for (size_t i : warned_) out.push_back(samples_[i].path);
  return out;
}

bool ImageFolderDataset::load(size_t i, float* out, bool augment, std::mt19937_64& rng) const {
  if (i >= samples_.size())
    throw Error(name_ + ": sample " + std::to_string(i) + " out of range (" + std::to_string(samples_.size()) + ")");
  Image owned;
  ImageView view;
  try {
    if (cache_) {
      if (!cache_->get(i, &view))
        throw Error(samples_[i].path + ": unreadable (recorded when the image cache " + cache_->path() + " was built)");
    } else {
      owned = read_image(samples_[i].path, transform_.channels);
      view = owned.view();
    }
    try {
      transform_image(view, transform_, augment, rng, out);
    } catch (const Error& e) {  // an image the transform cannot take counts as unreadable
      throw Error(samples_[i].path + ": " + e.what());
    }
  } catch (const Error& e) {
    if (strict_) throw Error(std::string(e.what()) + " (strict mode: unreadable images are errors)");
    note_unreadable(i, e.what());
    std::fill(out, out + sample_shape().numel(), 0.f);
    return false;
  }
  return true;
}

void ImageFolderDataset::channel_stats(size_t max_samples, int threads, std::vector<float>* mean,
                                       std::vector<float>* stddev) const {
  const size_t n = std::min(max_samples, samples_.size());
  if (n == 0) throw Error(name_ + ": no images to estimate mean/std from");
  ImageTransform raw = transform_;  // pixels / 255 after the evaluation geometry
  raw.mean.clear();
  raw.stddev.clear();
  const int C = raw.channels;
  const size_t plane = size_t(raw.crop) * raw.crop;
  struct Acc {
    std::vector<double> sum, sq;
    size_t images = 0;
  };
  int nt = std::max(1, std::min<int>(threads, static_cast<int>(n)));
  std::vector<Acc> acc(static_cast<size_t>(nt));
  auto work = [&](int t) {
    Acc& a = acc[size_t(t)];
    a.sum.assign(size_t(C), 0.0);
    a.sq.assign(size_t(C), 0.0);
    std::vector<float> buf(plane * C);
    std::mt19937_64 unused(0);  // evaluation geometry draws nothing
    for (size_t k = size_t(t); k < n; k += size_t(nt)) {
      size_t i = k * samples_.size() / n;  // evenly spread over all classes
      Image img;
      try {
        img = decode(i);
      } catch (const Error&) {
        continue;  // counted as skipped when training loads it
      }
      transform_image(img.view(), raw, false, unused, buf.data());
      for (int c = 0; c < C; ++c) {
        double s = 0, q = 0;
        for (size_t p = 0; p < plane; ++p) {
          double v = buf[size_t(c) * plane + p];
          s += v;
          q += v * v;
        }
        a.sum[size_t(c)] += s;
        a.sq[size_t(c)] += q;
      }
      ++a.images;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < nt; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  size_t images = 0;
  std::vector<double> sum(size_t(C), 0.0), sq(size_t(C), 0.0);
  for (const Acc& a : acc) {
    images += a.images;
    for (int c = 0; c < C; ++c) {
      sum[size_t(c)] += a.sum[size_t(c)];
      sq[size_t(c)] += a.sq[size_t(c)];
    }
  }
  if (images == 0) throw Error(name_ + ": none of the " + std::to_string(n) + " images sampled for mean/std could be read");
  mean->assign(size_t(C), 0.f);
  stddev->assign(size_t(C), 1.f);
  const double count = double(images) * double(plane);
  for (int c = 0; c < C; ++c) {
    double m = sum[size_t(c)] / count;
    double var = std::max(sq[size_t(c)] / count - m * m, 1e-12);  // a blank data set must not divide by 0
    (*mean)[size_t(c)] = static_cast<float>(m);
    (*stddev)[size_t(c)] = static_cast<float>(std::sqrt(var));
  }
}

std::string safe_class_folder_name(const std::string& name) {
  std::string out;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-';
    out += ok ? ch : '_';
  }
  if (out.empty() || out[0] == '.') out = "_" + out;  // never hidden, never "." or ".."
  return out;
}

size_t export_image_folder(const Dataset& data, const std::string& dir, const ExportOptions& opt) {
  const Shape shape = data.sample_shape();
  const int C = shape[0], H = shape[1], W = shape[2];
  if (C != 1 && C != 3)
    throw Error(data.describe() + ": cannot export " + std::to_string(C) + "-channel samples as images (1 or 3)");
  if (opt.format != "png" && opt.format != "jpg" && opt.format != "bmp")
    throw Error("export: unknown image format '" + opt.format + "' (png, jpg or bmp)");
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
    throw Error(dir + ": already holds files; export into an empty or new folder");

  const int K = data.num_classes();
  std::vector<std::string> names = data.class_names();
  std::vector<std::string> folders(static_cast<size_t>(K));
  std::vector<bool> keep(size_t(K), opt.classes.empty());
  for (int c : opt.classes) {
    if (c < 0 || c >= K) throw Error("export: class " + std::to_string(c) + " outside 0.." + std::to_string(K - 1));
    keep[size_t(c)] = true;
  }
  for (int c = 0; c < K; ++c) {
    std::string f = safe_class_folder_name(c < int(names.size()) ? names[size_t(c)] : std::to_string(c));
    for (int d = 0; d < c; ++d)  // two names that become the same folder would merge classes
      if (folders[size_t(d)] == f) f += "_" + std::to_string(c);
    folders[size_t(c)] = f;
    if (keep[size_t(c)]) {
      fs::create_directories(fs::path(dir) / f, ec);
      if (ec) throw Error((fs::path(dir) / f).string() + ": cannot create folder (" + ec.message() + ")");
    }
  }
  const int digits = static_cast<int>(std::to_string(data.size()).size());
  std::vector<size_t> per_class(size_t(K), 0);
  std::vector<float> buf(shape.numel());
  Image img(W, H, C);
  std::mt19937_64 unused(0);  // no augmentation
  size_t written = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    int label = data.label(i);
    if (!keep[size_t(label)] || (opt.limit && per_class[size_t(label)] >= opt.limit)) continue;
    if (!data.load(i, buf.data(), false, unused)) continue;  // the data set warned about it
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < C; ++c) {
          float v = (buf[(size_t(c) * H + y) * W + x] * opt.std + opt.mean) * 255.f;
          img.at(x, y, c) = static_cast<uint8_t>(std::lround(std::min(255.f, std::max(0.f, v))));
        }
    char file[32];
    std::snprintf(file, sizeof file, "%0*zu.%s", digits, i, opt.format.c_str());
    write_image((fs::path(dir) / folders[size_t(label)] / file).string(), img.view(), opt.jpeg_quality);
    ++per_class[size_t(label)];
    ++written;
  }
  return written;
}

}  // namespace trim
