#include "datasets/data_spec.h"

#include <sys/stat.h>

#include "datasets/idx.h"
#include "datasets/image_folder.h"
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

namespace {

// The train and test splits as the data set ships them, all classes.
std::pair<std::shared_ptr<Dataset>, std::shared_ptr<Dataset>> open_full(const DataSpec& spec) {
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
  return {train, test};
}

DataSplits3 select_and_split(std::shared_ptr<Dataset> train, std::shared_ptr<Dataset> test, const DataSpec& spec) {
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

std::string list(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string names_of(const std::vector<std::string>& all, const std::vector<int>& picked) {
  std::string s;
  for (size_t i = 0; i < picked.size(); ++i) {
    const size_t k = static_cast<size_t>(picked[i]);
    s += (i ? ", " : "") + (k < all.size() ? "'" + all[k] + "'" : "#" + std::to_string(k));
  }
  return s;
}

}  // namespace

DataSplits3 open_data(const DataSpec& spec) {
  auto full = open_full(spec);
  return select_and_split(full.first, full.second, spec);
}

DataSplits3 open_data_for_model(DataSpec spec, const ModelExpects& m, const std::string& classes_option) {
  auto full = open_full(spec);
  if (!m.class_names.empty()) {
    const std::vector<std::string> names = full.first->class_names();
    std::vector<int> by_name;
    for (const auto& n : m.class_names) {
      int found = -1;
      for (size_t i = 0; i < names.size() && found < 0; ++i)
        if (names[i] == n) found = static_cast<int>(i);
      for (size_t i = 0; i < names.size() && found < 0; ++i)
        if (names[i] == safe_class_folder_name(n)) found = static_cast<int>(i);
      if (found < 0) {
        std::string known;
        for (const auto& x : names) known += (known.empty() ? "'" : ", '") + x + "'";
        throw Error(m.name + ": class '" + n + "' of the model is not a class of the data set " +
                    full.first->describe() + " (its classes: " + known + ")");
      }
      by_name.push_back(found);
    }
    bool everything = by_name.size() == names.size();
    for (size_t i = 0; everything && i < by_name.size(); ++i) everything = by_name[i] == static_cast<int>(i);
    if (!spec.classes.empty() && spec.classes != by_name)
      throw Error(classes_option + " " + list(spec.classes) + " picks " + names_of(names, spec.classes) + " but " +
                  m.name + " was trained on " + names_of(names, by_name) + " (classes " + list(by_name) +
                  "); leave " + classes_option + " out: the model's class names choose them");
    spec.classes = everything ? std::vector<int>{} : by_name;
  }
  DataSplits3 d = select_and_split(full.first, full.second, spec);
  check_shape(d.train->sample_shape(), m.input, "data set sample vs model input (" + m.name + ")");
  if (d.train->num_classes() != m.classes)
    throw Error(m.name + " has " + std::to_string(m.classes) + " outputs but the data set has " +
                std::to_string(d.train->num_classes()) + " classes (set " + classes_option + ", e.g. 0,2,6)");
  return d;
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
