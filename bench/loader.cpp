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
// transform served from the decoded-image cache. Also CPU time per image, which holds on a
// machine shared with other work where wall-clock rates do not.
// Part 2: MobileNet V1 0.25/128 trained with the real trainer and Batcher (--workers loader
// threads, --threads compute threads): the share of training time spent waiting in next(),
// and the step time and CPU against the same steps fed from memory (the loader's cost in CPU
// contention, which the wait alone does not show).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include <time.h>
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

// CPU seconds (of this thread, or of the whole process): unlike wall time, hardly changed by
// other programs competing for the cores, so it gives figures that hold on a shared machine.
double cpu_seconds(clockid_t which) {
  timespec ts;
  clock_gettime(which, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

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

// Loads n samples spread over `threads` threads. Returns images per second of wall time and
// sets *cpu_ms to the CPU milliseconds spent per image.
double throughput(const ImageFolderDataset& d, int threads, size_t n, int mode, double* cpu_ms) {
  const size_t len = d.sample_shape().numel();
  std::vector<double> cpu(size_t(threads), 0.0);
  auto work = [&](int t) {
    double c0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    std::vector<float> buf(len);
    for (size_t k = size_t(t); k < n; k += size_t(threads)) {
      size_t i = (k * 7919) % d.size();  // a shuffled-looking order, like training
      std::mt19937_64 rng(k);
      if (mode == 0) (void)d.decode(i);
      else d.load(i, buf.data(), mode == 1, rng);
    }
    cpu[size_t(t)] = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
  };
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  double wall = seconds_since(t0), total_cpu = 0;
  for (double c : cpu) total_cpu += c;
  *cpu_ms = 1000 * total_cpu / double(n);
  return double(n) / wall;
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
  o.option("steps", "12", "part 2: batches per epoch (a subset of the data; 0: all)");
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
  double unused_cpu;
  (void)throughput(d, threads, std::min<size_t>(n, 50), 0, &unused_cpu);  // warm the page cache
  const char* names[4] = {"read + decode", "read + decode + train transform 224", "read + decode + eval transform 224",
                          "cache + train transform 224"};
  std::printf("\npart 1: %d threads, median of %d x %zu images. 'cpu' is CPU time per image, 'free cores' the\n"
              "        rate it allows on %d otherwise idle cores (the wall figure depends on what else runs)\n",
              threads, repeats, n, threads);
  std::printf("  %-38s %10s %10s %12s\n", "", "images/s", "cpu ms", "free cores");
  auto report = [&](const ImageFolderDataset& data, int mode, const char* name, const std::string& extra) {
    std::vector<double> rate, cpu;
    for (int k = 0; k < repeats; ++k) {
      double c;
      rate.push_back(throughput(data, threads, n, mode == 3 ? 1 : mode, &c));
      cpu.push_back(c);
    }
    double c = median_of(cpu);
    std::printf("  %-38s %10.1f %10.2f %12.0f%s\n", name, median_of(rate), c, threads * 1000.0 / c, extra.c_str());
  };
  for (int mode : {0, 1, 2}) report(d, mode, names[mode], "");
  {
    ImageFolderDataset cached("cached", d.samples(), d.class_names(), d.transform());
    std::string cache_path = (fs::temp_directory_path() / ("trim-loader-cache-" + std::to_string(::getpid()))).string();
    auto t0 = Clock::now();
    cached.use_cache(cache_path, threads);
    char extra[96];
    std::snprintf(extra, sizeof extra, "  (cache %.0f MiB, built in %.1f s)", cached.cache()->file_bytes() / 1048576.0,
                  seconds_since(t0));
    report(cached, 3, names[3], extra);
    fs::remove(cache_path);
  }

  // Part 2.
  ImageOptions mo = io;
  mo.set_size(128);  // MobileNet V1 0.25/128: 128 crop from 146
  DataSplits ms = open_image_dataset(root, mo);
  // --steps batches per epoch: an evenly spread subset, so the run stays short on a busy machine.
  const size_t want = size_t(o.integer("steps")) * size_t(o.integer("batch"));
  std::shared_ptr<Dataset> part = ms.train;
  if (want > 0 && want < ms.train->size()) {
    std::vector<size_t> idx;
    for (size_t k = 0; k < want; ++k) idx.push_back(k * ms.train->size() / want);
    part = std::make_shared<SubsetDataset>(ms.train, idx);
  }
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
  Batcher batcher(part, bo);
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
  double c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  TrainResult r = train(model, timed, nullptr, t);
  double total = seconds_since(t0), cpu_files = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
  const double steps = double(batcher.batches_per_epoch()) * t.schedule.epochs;
  std::printf("  from files:  %.1f s, %.0f ms/step, waiting for data %.1f s = %.1f%% of training time (%.0f img/s);\n"
              "               CPU %.0f ms/step (%.0f%% of %d cores)\n",
              total, 1000 * total / steps, timed.wait, 100 * timed.wait / total, r.images_per_s, 1000 * cpu_files / steps,
              100 * cpu_files / total / threads, threads);

  Model model2 = build_mobilenet_v1(mn);
  model2.init_params(seed);
  MemorySource mem(batcher);
  TimedSource timed_mem(mem);
  t0 = Clock::now();
  c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  TrainResult r2 = train(model2, timed_mem, nullptr, t);
  double total_mem = seconds_since(t0), cpu_mem = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
  std::printf("  from memory: %.1f s, %.0f ms/step (%.0f img/s); CPU %.0f ms/step (%.0f%% of %d cores)\n", total_mem,
              1000 * total_mem / steps, r2.images_per_s, 1000 * cpu_mem / steps, 100 * cpu_mem / total_mem / threads,
              threads);
  std::printf("  loading's share of the CPU of a step: %.1f%% (what it costs when every core is busy)\n",
              100 * (cpu_files - cpu_mem) / cpu_files);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("loader", loader_main, argc, argv); }
