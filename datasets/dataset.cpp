#include "datasets/dataset.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace trim {

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices,
                             std::vector<int> label_map, std::vector<std::string> names)
    : base_(std::move(base)), indices_(std::move(indices)), label_map_(std::move(label_map)),
      names_(std::move(names)) {
  for (size_t i : indices_)
    if (i >= base_->size()) throw Error("subset index " + std::to_string(i) + " out of range for " + base_->describe());
}

int SubsetDataset::num_classes() const {
  return names_.empty() ? base_->num_classes() : static_cast<int>(names_.size());
}

std::vector<std::string> SubsetDataset::class_names() const {
  return names_.empty() ? base_->class_names() : names_;
}

int SubsetDataset::label(size_t i) const {
  int l = base_->label(indices_[i]);
  return label_map_.empty() ? l : label_map_[static_cast<size_t>(l)];
}

bool SubsetDataset::load(size_t i, float* out, bool augment, std::mt19937_64& rng) const {
  return base_->load(indices_[i], out, augment, rng);
}

std::string SubsetDataset::describe() const {
  return std::to_string(indices_.size()) + " of " + base_->describe();
}

std::shared_ptr<Dataset> select_classes(std::shared_ptr<const Dataset> base, const std::vector<int>& classes) {
  int k = base->num_classes();
  std::vector<int> map(static_cast<size_t>(k), -1);
  std::vector<std::string> all = base->class_names(), names;
  for (size_t j = 0; j < classes.size(); ++j) {
    int c = classes[j];
    if (c < 0 || c >= k) throw Error("class " + std::to_string(c) + " does not exist in " + base->describe() +
                                     " (classes 0.." + std::to_string(k - 1) + ")");
    if (map[static_cast<size_t>(c)] != -1) throw Error("class " + std::to_string(c) + " listed twice");
    map[static_cast<size_t>(c)] = static_cast<int>(j);
    names.push_back(static_cast<size_t>(c) < all.size() ? all[static_cast<size_t>(c)] : std::to_string(c));
  }
  std::vector<size_t> idx;
  for (size_t i = 0; i < base->size(); ++i)
    if (map[static_cast<size_t>(base->label(i))] >= 0) idx.push_back(i);
  if (idx.empty()) throw Error("no samples of the selected classes in " + base->describe());
  return std::make_shared<SubsetDataset>(base, std::move(idx), std::move(map), std::move(names));
}

std::pair<std::shared_ptr<Dataset>, std::shared_ptr<Dataset>> split_dataset(std::shared_ptr<const Dataset> base,
                                                                            double second_fraction, uint64_t seed) {
  if (!(second_fraction >= 0.0 && second_fraction < 1.0))
    throw Error("split fraction must be in [0, 1), got " + std::to_string(second_fraction));
  std::vector<size_t> idx(base->size());
  std::iota(idx.begin(), idx.end(), size_t(0));
  // Fisher-Yates with our own draws: std::shuffle's algorithm is implementation-defined, and the
  // split must be the same on every machine and standard library.
  std::mt19937_64 rng(seed ^ 0x5eedULL);
  for (size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[rng() % i]);
  size_t n2 = static_cast<size_t>(std::llround(second_fraction * static_cast<double>(idx.size())));
  std::vector<size_t> a(idx.begin(), idx.end() - static_cast<long>(n2)), b(idx.end() - static_cast<long>(n2), idx.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return {std::make_shared<SubsetDataset>(base, std::move(a)), std::make_shared<SubsetDataset>(base, std::move(b))};
}

}  // namespace trim
