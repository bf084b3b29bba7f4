#include "datasets/data_spec.h"

#include <sys/stat.h>

#include "datasets/idx.h"
#if __has_include("datasets/open_dataset.h")
#include "datasets/open_dataset.h"
#define TRIM_HAVE_IMAGE_FOLDERS 1
#endif

namespace trim {

namespace {
bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool holds_idx(const std::string& dir) {
  return exists(dir + "/train-images-idx3-ubyte.gz") || exists(dir + "/train-images-idx3-ubyte");
}
}  // namespace

std::string DataSplits3::describe() const {
  std::string s = "train: " + train->describe();
  if (val) s += "\n  val: " + val->describe();
  if (test) s += "\n  test: " + test->describe();
  return s;
}

DataSplits3 open_data(const DataSpec& spec) {
  std::shared_ptr<Dataset> train, test;
  std::string dir = spec.data.empty() || spec.data == "fashion-mnist" ? kFashionMnistDir : spec.data;
  if (!is_dir(dir)) throw Error(dir + ": data folder not found");
  if (holds_idx(dir)) {
    train = load_fashion_mnist(dir, true);
    if (exists(dir + "/t10k-images-idx3-ubyte.gz") || exists(dir + "/t10k-images-idx3-ubyte"))
      test = load_fashion_mnist(dir, false);
  } else {
#ifdef TRIM_HAVE_IMAGE_FOLDERS
    ImageOptions io;
    if (spec.image_size > 0) io.set_size(spec.image_size);
    io.strict = spec.strict;
    io.cache = spec.cache;
    DataSplits s = open_image_dataset(dir, io);
    train = s.train;
    test = s.test;
#else
    throw Error(dir + ": no IDX files (train-images-idx3-ubyte[.gz]) found, and this build reads no image folders");
#endif
  }
  if (!spec.classes.empty()) {
    train = select_classes(train, spec.classes);
    if (test) test = select_classes(test, spec.classes);
  }
  DataSplits3 out;
  out.test = test;
  if (spec.val_fraction > 0) {
    auto parts = split_dataset(train, spec.val_fraction, spec.seed);
    out.train = parts.first;
    out.val = parts.second;
  } else {
    out.train = train;
  }
  return out;
}

std::unique_ptr<Batcher> make_batcher(std::shared_ptr<const Dataset> data, int batch, bool train, uint64_t seed,
                                      int workers, int shard, int shards) {
  BatcherOptions o;
  o.batch_size = batch;
  o.shuffle = train;
  o.augment = train;
  o.drop_last = false;
  o.seed = seed;
  o.workers = workers;
  o.prefetch = 3;
  o.shard = shard;
  o.shards = shards;
  o.nonempty_shares = train;
  return std::unique_ptr<Batcher>(new Batcher(std::move(data), o));
}

}  // namespace trim
