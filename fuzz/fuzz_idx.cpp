// fuzz_idx - the IDX reader (MNIST / Fashion-MNIST images and labels, plain or gzip).
//
// Input: a flag byte (bit 0: pass ten class names, else let the labels decide the classes),
// a little-endian u32 giving the length of the images file, the images file, then the labels
// file. Both become in-memory files for load_idx; whatever loads, its first and last samples
// are read with and without augmentation.
#include <random>

#include "datasets/idx.h"
#include "fuzz/fuzz_target.h"

TRIM_FUZZ_TARGET(idx) {
  static trim::fuzz::MemFile images("fuzz-images"), labels("fuzz-labels");
  if (size < 5) return false;
  const bool named = data[0] & 1;
  size_t n_images = size_t(data[1]) | size_t(data[2]) << 8 | size_t(data[3]) << 16 | size_t(data[4]) << 24;
  data += 5;
  size -= 5;
  if (n_images > size) n_images = size;
  images.set(data, n_images);
  labels.set(data + n_images, size - n_images);
  std::vector<std::string> names;
  if (named) names = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  std::shared_ptr<trim::Dataset> ds;
  if (!trim::fuzz::accepted([&] { ds = trim::load_idx(images.path(), labels.path(), "fuzz", names); })) return false;
  if (ds->size() == 0) trim::fuzz::invariant_failed("load_idx accepted an empty data set");
  std::vector<float> out(ds->sample_shape().numel());
  std::mt19937_64 rng(1);
  for (size_t i : {size_t(0), ds->size() - 1})
    for (bool augment : {false, true}) {
      ds->load(i, out.data(), augment, rng);
      if (ds->label(i) < 0 || ds->label(i) >= ds->num_classes()) trim::fuzz::invariant_failed("label out of range");
    }
  return true;
}
