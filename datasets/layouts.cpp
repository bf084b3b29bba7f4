#include "datasets/layouts.h"

#include "framework/file_io.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <random>
#include <set>

namespace trim {

namespace fs = std::filesystem;

namespace {

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string join(const fs::path& a, const std::string& b) { return (a / b).string(); }

std::vector<std::string> read_lines(const std::string& path) {
  std::istringstream in(read_file(path));  // a regular file, or an Error naming the path
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // files written on Windows
    lines.push_back(line);
  }
  if (in.bad()) throw Error(path + ": read failed");
  return lines;
}

std::vector<std::string> tokens(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string stem(const std::string& name) {
  std::string base = fs::path(name).filename().string();
  size_t dot = base.rfind('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

// The Caltech-101 class folder root, or "" when root is not Caltech-101.
std::string caltech_dir(const fs::path& root) {
  if (is_dir(root / "101_ObjectCategories")) return join(root, "101_ObjectCategories");
  if (is_dir(root / "caltech101" / "101_ObjectCategories")) return (root / "caltech101" / "101_ObjectCategories").string();
  std::string base = fs::path(root).lexically_normal().filename().string();
  if (base.empty()) base = fs::path(root).lexically_normal().parent_path().filename().string();  // "x/" form
  if (base == "101_ObjectCategories") return root.string();
  return "";
}

// The Food-101 root (holding images/ and meta/), or "".
std::string food_dir(const fs::path& root) {
  for (const fs::path& r : {root, root / "food-101"})
    if (is_dir(r / "images") && is_file(r / "meta" / "train.txt")) return r.string();
  return "";
}

// A folder holding image files directly (an unlabelled, flat val folder).
bool holds_images_directly(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    std::string n = it->path().filename().string();
    if (!n.empty() && n[0] != '.' && it->is_regular_file(e2) && has_image_extension(n)) return true;
  }
  return false;
}

// The folder next to train/ that holds the held-out split, or "".
std::string heldout_dir(const fs::path& root) {
  for (const char* name : {"val", "test", "validation"})
    if (is_dir(root / name)) return join(root, name);
  return "";
}

}  // namespace

const char* layout_name(ImageLayout l) {
  switch (l) {
    case ImageLayout::kImageFolder: return "image folder";
    case ImageLayout::kTrainTest: return "train/test folders";
    case ImageLayout::kImageNet: return "ImageNet (flat val with label file)";
    case ImageLayout::kCaltech101: return "Caltech-101";
    case ImageLayout::kFood101: return "Food-101";
  }
  return "?";
}

ImageLayout detect_layout(const std::string& root_str) {
  fs::path root(root_str);
  std::error_code ec;
  if (!fs::exists(root, ec)) throw Error(root_str + ": data folder not found");
  if (!is_dir(root)) throw Error(root_str + ": not a folder");
  if (!caltech_dir(root).empty()) return ImageLayout::kCaltech101;
  if (!food_dir(root).empty()) return ImageLayout::kFood101;
  if (is_dir(root / "train")) {
    std::string held = heldout_dir(root);
    if (!held.empty() && holds_images_directly(held)) return ImageLayout::kImageNet;
    return ImageLayout::kTrainTest;
  }
  return ImageLayout::kImageFolder;
}

std::vector<ImageSample> read_class_folders_as(const std::string& dir, const std::vector<std::string>& classes) {
  SampleList list = scan_image_folder(dir);
  std::map<std::string, int> index;
  for (size_t c = 0; c < classes.size(); ++c) index[classes[c]] = static_cast<int>(c);
  std::vector<int> remap;
  for (const std::string& name : list.classes) {
    auto it = index.find(name);
    if (it == index.end()) throw Error(join(dir, name) + ": class folder has no counterpart in the training set");
    remap.push_back(it->second);
  }
  for (ImageSample& s : list.samples) s.label = remap[size_t(s.label)];
  // Keep the class-then-path order of the training side even when the names remap.
  std::stable_sort(list.samples.begin(), list.samples.end(),
                   [](const ImageSample& a, const ImageSample& b) { return a.label < b.label; });
  return list.samples;
}

std::vector<ImageSample> read_flat_val(const std::string& dir, const std::string& label_file,
                                       const std::vector<std::string>& classes) {
  std::vector<std::string> images;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    std::string n = it->path().filename().string();
    if (!n.empty() && n[0] != '.' && it->is_regular_file(e2) && has_image_extension(n)) images.push_back(n);
  }
  if (ec) throw Error(dir + ": cannot list folder (" + ec.message() + ")");
  if (images.empty()) throw Error(dir + ": no images");
  std::sort(images.begin(), images.end());

  std::map<std::string, int> class_index;
  for (size_t c = 0; c < classes.size(); ++c) class_index[classes[c]] = static_cast<int>(c);
  auto parse_label = [&](const std::string& tok, size_t line_no) {
    auto it = class_index.find(tok);
    if (it != class_index.end()) return it->second;
    if (all_digits(tok)) {
      long v = std::stol(tok);
      if (v < static_cast<long>(classes.size())) return static_cast<int>(v);
    }
    throw Error(label_file + ":" + std::to_string(line_no) + ": label '" + tok + "' is neither a class name nor a class index below " +
                std::to_string(classes.size()));
  };

  std::vector<std::string> lines = read_lines(label_file);
  struct Entry {
    std::string key;
    int label;
    size_t line;
  };
  std::vector<Entry> entries;
  enum { kUnknown, kPlain, kKeyed, kCsv } form = kUnknown;
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    std::vector<std::string> tok = tokens(lines[ln]);
    if (tok.empty()) continue;
    if (form == kUnknown && entries.empty()) {
      std::string head = lines[ln].substr(0, 7);
      std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
      if (head == "imageid") {  // LOC_val_solution.csv header
        form = kCsv;
        continue;
      }
      form = tok.size() == 1 ? kPlain : kKeyed;
    }
    if (form == kCsv) {
      size_t comma = lines[ln].find(',');
      if (comma == std::string::npos)
        throw Error(label_file + ":" + std::to_string(ln + 1) + ": expected 'ImageId,PredictionString'");
      std::vector<std::string> pred = tokens(lines[ln].substr(comma + 1));
      if (pred.empty()) throw Error(label_file + ":" + std::to_string(ln + 1) + ": no label after the comma");
      std::vector<std::string> id = tokens(lines[ln].substr(0, comma));
      if (id.size() != 1) throw Error(label_file + ":" + std::to_string(ln + 1) + ": expected one image id before the comma");
      entries.push_back(Entry{stem(id[0]), parse_label(pred[0], ln + 1), ln + 1});
    } else if (form == kPlain) {
      if (tok.size() != 1)
        throw Error(label_file + ":" + std::to_string(ln + 1) + ": expected one label per line like the lines before");
      entries.push_back(Entry{"", parse_label(tok[0], ln + 1), ln + 1});
    } else {
      if (tok.size() != 2)
        throw Error(label_file + ":" + std::to_string(ln + 1) + ": expected '<file> <label>' like the lines before");
      entries.push_back(Entry{stem(tok[0]), parse_label(tok[1], ln + 1), ln + 1});
    }
  }
  if (entries.size() != images.size())
    throw Error(label_file + ": " + std::to_string(entries.size()) + " labels for " + std::to_string(images.size()) +
                " images in " + dir);

  std::vector<ImageSample> out(images.size());
  if (form == kPlain) {
    for (size_t i = 0; i < images.size(); ++i) out[i] = ImageSample{join(dir, images[i]), entries[i].label};
  } else {
    std::map<std::string, size_t> by_stem;
    for (size_t i = 0; i < images.size(); ++i)
      if (!by_stem.emplace(stem(images[i]), i).second)
        throw Error(join(dir, images[i]) + ": two images share the name " + stem(images[i]) + "; " + label_file +
                    " cannot tell them apart");
    std::vector<bool> seen(images.size(), false);
    for (const Entry& e : entries) {
      auto it = by_stem.find(e.key);
      if (it == by_stem.end())
        throw Error(label_file + ":" + std::to_string(e.line) + ": no image named '" + e.key + "' in " + dir);
      if (seen[it->second])
        throw Error(label_file + ":" + std::to_string(e.line) + ": second label for '" + e.key + "'");
      seen[it->second] = true;
      out[it->second] = ImageSample{join(dir, images[it->second]), e.label};
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const ImageSample& a, const ImageSample& b) { return a.label < b.label; });
  return out;
}

std::vector<ImageSample> read_food101_split(const std::string& root, const std::string& list_file,
                                            const std::vector<std::string>& classes) {
  std::map<std::string, int> class_index;
  for (size_t c = 0; c < classes.size(); ++c) class_index[classes[c]] = static_cast<int>(c);
  std::vector<std::string> lines = read_lines(list_file);
  std::vector<ImageSample> out;
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    std::vector<std::string> tok = tokens(lines[ln]);
    if (tok.empty()) continue;
    const std::string& entry = tok[0];
    size_t slash = entry.rfind('/');
    if (tok.size() != 1 || slash == std::string::npos || slash == 0)
      throw Error(list_file + ":" + std::to_string(ln + 1) + ": expected '<class>/<image id>', got '" + lines[ln] + "'");
    auto it = class_index.find(entry.substr(0, slash));
    if (it == class_index.end())
      throw Error(list_file + ":" + std::to_string(ln + 1) + ": unknown class '" + entry.substr(0, slash) + "'");
    std::string path = (fs::path(root) / "images" / (has_image_extension(entry) ? entry : entry + ".jpg")).string();
    if (!is_file(path)) throw Error(list_file + ":" + std::to_string(ln + 1) + ": " + path + " not found");
    out.push_back(ImageSample{path, it->second});
  }
  if (out.empty()) throw Error(list_file + ": lists no images");
  std::stable_sort(out.begin(), out.end(), [](const ImageSample& a, const ImageSample& b) {
    return a.label != b.label ? a.label < b.label : a.path < b.path;
  });
  return out;
}

LayoutSplits read_layout(const std::string& root_str, const LayoutOptions& opt) {
  const fs::path root(root_str);
  LayoutSplits out;
  out.layout = detect_layout(root_str);
  switch (out.layout) {
    case ImageLayout::kImageFolder: {
      SampleList l = scan_image_folder(root_str);
      out.root = root_str;
      out.classes = std::move(l.classes);
      out.train = std::move(l.samples);
      break;
    }
    case ImageLayout::kCaltech101: {
      out.root = caltech_dir(root);
      std::vector<std::string> exclude;
      if (!opt.caltech_background) exclude.push_back("BACKGROUND_Google");
      SampleList l = scan_image_folder(out.root, exclude);
      out.classes = std::move(l.classes);
      out.train = std::move(l.samples);
      break;
    }
    case ImageLayout::kFood101: {
      std::string froot = food_dir(root);
      out.root = join(froot, "images");
      std::string train_list = (fs::path(froot) / "meta" / "train.txt").string();
      std::string test_list = (fs::path(froot) / "meta" / "test.txt").string();
      if (!is_file(test_list)) throw Error(test_list + ": not found (Food-101 ships meta/train.txt and meta/test.txt)");
      std::set<std::string> names;
      for (const std::string& f : {train_list, test_list})
        for (const std::string& line : read_lines(f)) {
          std::vector<std::string> tok = tokens(line);
          if (!tok.empty() && tok[0].rfind('/') != std::string::npos && tok[0].rfind('/') > 0)
            names.insert(tok[0].substr(0, tok[0].rfind('/')));
        }
      out.classes.assign(names.begin(), names.end());  // std::set: sorted bytewise
      out.train = read_food101_split(froot, train_list, out.classes);
      out.test = read_food101_split(froot, test_list, out.classes);
      out.has_test = true;
      break;
    }
    case ImageLayout::kTrainTest:
    case ImageLayout::kImageNet: {
      out.root = join(root, "train");
      SampleList l = scan_image_folder(out.root);
      out.classes = std::move(l.classes);
      out.train = std::move(l.samples);
      std::string held = heldout_dir(root);
      if (held.empty()) break;
      out.has_test = true;
      if (out.layout == ImageLayout::kTrainTest) {
        out.test = read_class_folders_as(held, out.classes);
        break;
      }
      std::string labels = opt.val_labels;
      if (labels.empty())
        for (const char* name : {"LOC_val_solution.csv", "val_labels.txt", "val.txt"})
          if (is_file(root / name)) {
            labels = join(root, name);
            break;
          }
      if (labels.empty())
        throw Error(held + ": images without class folders need a label file: put LOC_val_solution.csv, val_labels.txt "
                    "or val.txt in " + root_str + ", or name one explicitly");
      out.test = read_flat_val(held, labels, out.classes);
      break;
    }
  }
  return out;
}

SplitIndices split_by_class(const std::vector<int>& labels, double val_fraction, double test_fraction, uint64_t seed) {
  if (!(val_fraction >= 0 && test_fraction >= 0 && val_fraction + test_fraction < 1))
    throw Error("split: fractions must be >= 0 and sum below 1, got val " + std::to_string(val_fraction) + " test " +
                std::to_string(test_fraction));
  std::map<int, std::vector<size_t>> by_class;
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);
  std::mt19937_64 rng(seed);
  SplitIndices out;
  for (auto& kv : by_class) {
    std::vector<size_t>& idx = kv.second;
    for (size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[rng() % i]);  // Fisher-Yates
    const size_t n = idx.size();
    size_t n_test = static_cast<size_t>(std::lround(n * test_fraction));
    size_t n_val = static_cast<size_t>(std::lround(n * val_fraction));
    // Every class keeps a training sample: a class never seen in training cannot be learnt.
    while (n_test + n_val > n - 1 && (n_test || n_val)) {
      if (n_val >= n_test && n_val) --n_val;
      else --n_test;
    }
    out.test.insert(out.test.end(), idx.begin(), idx.begin() + long(n_test));
    out.val.insert(out.val.end(), idx.begin() + long(n_test), idx.begin() + long(n_test + n_val));
    out.train.insert(out.train.end(), idx.begin() + long(n_test + n_val), idx.end());
  }
  std::sort(out.train.begin(), out.train.end());
  std::sort(out.val.begin(), out.val.end());
  std::sort(out.test.begin(), out.test.end());
  return out;
}

}  // namespace trim
