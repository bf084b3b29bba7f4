// loader - how fast trim turns image files into training tensors, and how much of a training
// step waits for them.
//
//   loader                          # synthetic 101-class JPEG set (500x375) in a temp folder
//   loader --data ~/caltech101      # any folder open_image_dataset reads
//   loader --write-synthetic data/synth101 --classes 101 --per-class 40   # just write a set
//
// Part 1: images/s of read + decode (+ augment) at 224 px on --threads threads, each figure
// the median of --repeats runs: decode only, decode + training transform (random-resized crop,
// flip, normalise), decode + evaluation transform (resize 256, center crop), and the training
// transform served from the decoded-image cache.
// Part 2: MobileNet V1 0.25/128 trained with the real trainer and Batcher (--workers loader
// threads, --threads compute threads): the share of training time spent waiting in next(),
// and the step time against the same steps fed from memory (the loader's cost in CPU
// contention, which the wait alone does not show).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include <unistd.h>

#include "datasets/batcher.h"
#include "datasets/image_folder.h"
#include "datasets/open_dataset.h"
#include "framework/cli_options.h"
#include "framework/trainer.h"
#include "models/zoo.h"

using namespace trim;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A learnable synthetic photo: each class has its own colour and stripe direction and
// frequency, each image its own phase, brightness and noise (noise also gives the JPEG
// encoder real work, so files are photo-sized: about 50-80 KB at 500x375).
Image synthetic_image(int w, int h, int label, int classes, std::mt19937_64& rng) {
  const double hue = 6.0 * label / classes, angle = (label * 37 % 180) * M_PI / 180.0;
  const double freq = 2 * M_PI * (3 + label % 7) / w, phase = (rng() % 1000) / 1000.0 * 2 * M_PI;
  const double gain = 0.7 + (rng() % 300) / 1000.0;
  double base[3];
  for (int c = 0; c < 3; ++c) {
    double d = std::fabs(std::fmod(hue + 2.0 * c, 6.0) - 3.0);  // a hue wheel
    base[c] = std::min(1.0, std::max(0.0, d - 1.0)) * 200 + 30;
  }
  Image img(w, h, 3);
  const double ca = std::cos(angle), sa = std::sin(angle);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double s = 0.5 + 0.5 * std::sin(freq * (x * ca + y * sa) + phase);
      for (int c = 0; c < 3; ++c) {
        double v = gain * base[c] * (0.55 + 0.45 * s) + double(int(rng() % 41) - 20);
        img.at(x, y, c) = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
      }
    }
  return img;
}

void write_synthetic(const std::string& dir, int classes, int per_class, int w, int h, uint64_t seed) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) throw Error(dir + ": already holds files");
  std::mt19937_64 rng(seed);
  for (int c = 0; c < classes; ++c) {
    char name[32];
    std::snprintf(name, sizeof name, "class_%03d", c);
    fs::create_directories(fs::path(dir) / name);
    for (int k = 0; k < per_class; ++k) {
      // Sizes vary around w x h like photos do (portrait and landscape).
      int iw = w - 60 + int(rng() % 121), ih = h - 45 + int(rng() % 91);
      if (rng() % 4 == 0) std::swap(iw, ih);
      char file[32];
      std::snprintf(file, sizeof file, "%04d.jpg", k);
      write_image((fs::path(dir) / name / file).string(), synthetic_image(iw, ih, c, classes, rng).view(), 90);
    }
  }
}

// Loads n samples spread over `threads` threads; returns images per second.
double throughput(const ImageFolderDataset& d, int threads, size_t n, int mode) {
  const size_t len = d.sample_shape().numel();
  auto work = [&](int t) {
    std::vector<float> buf(len);
    for (size_t k = size_t(t); k < n; k += size_t(threads)) {
      size_t i = (k * 7919) % d.size();  // a shuffled-looking order, like training
      std::mt19937_64 rng(k);
      if (mode == 0) (void)d.decode(i);
      else d.load(i, buf.data(), mode == 1, rng);
    }
  };
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  return double(n) / seconds_since(t0);
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Wraps a batch source and adds up the time spent inside next().
class TimedSource : public BatchSource {
 public:
  explicit TimedSource(BatchSource& inner) : inner_(inner) {}
  void start_epoch(int epoch) override { inner_.start_epoch(epoch); }
  void skip(size_t b) override { inner_.skip(b); }
  bool next(Tensor& images, std::vector<int>& labels) override {
    auto t0 = Clock::now();
    bool more = inner_.next(images, labels);
    wait += seconds_since(t0);
    return more;
  }
  size_t batches_per_epoch() const override { return inner_.batches_per_epoch(); }
  size_t skipped_samples() const override { return inner_.skipped_samples(); }
  double wait = 0;

 private:
  BatchSource& inner_;
};

// Replays batches captured once: the same training steps with no loading at all.
class MemorySource : public BatchSource {
 public:
  explicit MemorySource(BatchSource& from) {
    from.start_epoch(0);
    Tensor x;
    std::vector<int> y;
    while (from.next(x, y)) batches_.emplace_back(x, y);
  }
  void start_epoch(int) override { pos_ = 0; }
  void skip(size_t b) override { pos_ += b; }
  bool next(Tensor& images, std::vector<int>& labels) override {
    if (pos_ >= batches_.size()) return false;
    images = batches_[pos_].first;
    labels = batches_[pos_].second;
    ++pos_;
    return true;
  }
  size_t batches_per_epoch() const override { return batches_.size(); }
  size_t skipped_samples() const override { return 0; }

 private:
  std::vector<std::pair<Tensor, std::vector<int>>> batches_;
  size_t pos_ = 0;
};

int loader_main(int argc, char** argv) {
  CliOptions o("loader", "Image loading speed (decode + augment at 224 px) and data wait of a MobileNet V1 training step.");
  o.option("data", "", "image folder (any layout); default: a synthetic 101-class JPEG set in a temp folder");
  o.option("write-synthetic", "", "only write a synthetic set to this folder and exit");
  o.option("classes", "101", "synthetic: classes");
  o.option("per-class", "6", "synthetic: images per class");
  o.option("threads", "2", "loader threads for part 1, compute threads for part 2");
  o.option("workers", "2", "part 2: Batcher loader threads");
  o.option("images", "400", "part 1: images per measurement");
  o.option("repeats", "3", "part 1: measurements per figure (median reported)");
  o.option("batch", "64", "part 2: batch size");
  o.option("epochs", "2", "part 2: epochs over the data (the first includes start-up)");
  o.option("seed", "1", "seed");
  if (!o.parse(argc, argv)) {
    std::fputs(o.usage().c_str(), stdout);
    return 0;
  }
  const uint64_t seed = static_cast<uint64_t>(o.integer("seed"));
  if (!o.str("write-synthetic").empty()) {
    auto t0 = Clock::now();
    write_synthetic(o.str("write-synthetic"), o.integer("classes"), o.integer("per-class"), 500, 375, seed);
    std::printf("wrote %d x %d synthetic JPEGs to %s in %.1f s\n", o.integer("classes"), o.integer("per-class"),
                o.str("write-synthetic").c_str(), seconds_since(t0));
    return 0;
  }

  std::string root = o.str("data"), tmp;
  if (root.empty()) {
    tmp = (fs::temp_directory_path() / ("trim-loader-" + std::to_string(::getpid()))).string();
    auto t0 = Clock::now();
    write_synthetic(tmp, o.integer("classes"), o.integer("per-class"), 500, 375, seed);
    root = tmp;
    std::printf("synthetic set: %d classes x %d JPEGs around 500x375 (q90) in %s, written in %.1f s\n",
                o.integer("classes"), o.integer("per-class"), root.c_str(), seconds_since(t0));
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup{tmp};

  const int threads = o.integer("threads");
  const size_t n = static_cast<size_t>(o.integer("images"));
  const int repeats = std::max(1, o.integer("repeats"));

  // Part 1.
  ImageOptions io;  // ImageNet recipe: 224 from 256, rrc + flip, ImageNet mean/std
  io.test_fraction = 0;
  io.auto_size = false;
  DataSplits s = open_image_dataset(root, io);
  auto& d = dynamic_cast<ImageFolderDataset&>(*s.train);
  uintmax_t bytes = 0;
  for (size_t i = 0; i < d.size(); ++i) bytes += fs::file_size(d.samples()[i].path);
  std::printf("data: %s\n  %zu images, mean file %.1f KB; %s\n", d.describe().c_str(), d.size(),
              bytes / 1024.0 / d.size(), d.transform().describe().c_str());
  (void)throughput(d, threads, std::min<size_t>(n, 50), 0);  // warm the page cache
  const char* names[3] = {"read + decode", "read + decode + train transform 224", "read + decode + eval transform 224"};
  std::printf("\npart 1: images/s on %d threads (median of %d x %zu images)\n", threads, repeats, n);
  for (int mode : {0, 1, 2}) {
    std::vector<double> r;
    for (int k = 0; k < repeats; ++k) r.push_back(throughput(d, threads, n, mode));
    std::printf("  %-40s %8.1f  (1 thread: %.1f)\n", names[mode], median_of(r), throughput(d, 1, n / 2, mode));
  }
  {
    ImageFolderDataset cached("cached", d.samples(), d.class_names(), d.transform());
    std::string cache_path = (fs::temp_directory_path() / ("trim-loader-cache-" + std::to_string(::getpid()))).string();
    auto t0 = Clock::now();
    cached.use_cache(cache_path, threads);
    double build = seconds_since(t0);
    std::vector<double> r;
    for (int k = 0; k < repeats; ++k) r.push_back(throughput(cached, threads, n, 1));
    std::printf("  %-40s %8.1f  (cache %.1f MiB, built in %.1f s)\n", "cache + train transform 224", median_of(r),
                cached.cache()->file_bytes() / 1048576.0, build);
    fs::remove(cache_path);
  }

  // Part 2.
  ImageOptions mo = io;
  mo.set_size(128);  // MobileNet V1 0.25/128: 128 crop from 146
  DataSplits ms = open_image_dataset(root, mo);
  MobileNetV1Options mn;
  mn.alpha = 0.25f;
  mn.resolution = 128;
  mn.classes = ms.train->num_classes();
  Model model = build_mobilenet_v1(mn);
  model.init_params(seed);
  BatcherOptions bo;
  bo.batch_size = o.integer("batch");
  bo.shuffle = true;
  bo.augment = true;
  bo.seed = seed;
  bo.workers = o.integer("workers");
  bo.prefetch = 3;
  Batcher batcher(ms.train, bo);
  TrainOptions t;
  t.schedule.epochs = o.integer("epochs");
  t.schedule.base_lr = 0.05f;
  t.threads = threads;
  t.progress = false;
  t.seed = seed;
  std::printf("\npart 2: MobileNet V1 0.25/128, %d classes, %lld MACs/image, batch %d, %zu batches/epoch, %d epochs,\n"
              "        %d compute threads, %d loader threads\n",
              mn.classes, static_cast<long long>(model.macs()), bo.batch_size, batcher.batches_per_epoch(),
              t.schedule.epochs, threads, bo.workers);
  TimedSource timed(batcher);
  auto t0 = Clock::now();
  TrainResult r = train(model, timed, nullptr, t);
  double total = seconds_since(t0);
  const double steps = double(batcher.batches_per_epoch()) * t.schedule.epochs;
  std::printf("  from files:  %.1f s, %.0f ms/step, waiting for data %.1f s = %.1f%% of training time (%.0f img/s)\n",
              total, 1000 * total / steps, timed.wait, 100 * timed.wait / total, r.images_per_s);

  Model model2 = build_mobilenet_v1(mn);
  model2.init_params(seed);
  MemorySource mem(batcher);
  TimedSource timed_mem(mem);
  t0 = Clock::now();
  TrainResult r2 = train(model2, timed_mem, nullptr, t);
  double total_mem = seconds_since(t0);
  std::printf("  from memory: %.1f s, %.0f ms/step (%.0f img/s): loading costs %.1f%% of step time in all\n", total_mem,
              1000 * total_mem / steps, r2.images_per_s, 100 * (total - total_mem) / total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("loader", loader_main, argc, argv); }
