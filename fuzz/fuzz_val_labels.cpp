// fuzz_val_labels - the ImageNet validation label file (LOC_val_solution.csv, Caffe's val.txt
// "<file> <label>" lines, or one label per line) read against a flat val folder.
//
// Input: one byte choosing the folder (1 + b % 6 images named like ImageNet's), then the label
// file. The folders (empty files with image names: only names matter here) are made once per
// process under /tmp and removed at exit. Classes: three WordNet ids.
#include <sys/stat.h>

#include <filesystem>

#include "datasets/layouts.h"
#include "fuzz/fuzz_target.h"

namespace {

const std::vector<std::string> kClasses = {"n01440764", "n01443537", "n01484850"};
constexpr int kMaxImages = 6;

struct ValFolders {
  std::string root;
  ValFolders() {
    char tmpl[] = "/tmp/trim-fuzz-val-XXXXXX";
    if (!::mkdtemp(tmpl)) trim::fuzz::invariant_failed("mkdtemp failed");
    root = tmpl;
    for (int n = 1; n <= kMaxImages; ++n) {
      std::string dir = folder(n);
      ::mkdir(dir.c_str(), 0755);
      for (int i = 1; i <= n; ++i) {
        char name[64];
        std::snprintf(name, sizeof name, "/ILSVRC2012_val_%08d.JPEG", i);
        if (FILE* f = std::fopen((dir + name).c_str(), "wb")) std::fclose(f);
      }
    }
  }
  ~ValFolders() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  std::string folder(int n) const { return root + "/val" + std::to_string(n); }
};

}  // namespace

TRIM_FUZZ_TARGET(val_labels) {
  static ValFolders folders;
  static trim::fuzz::MemFile label_file("fuzz-val-labels");
  if (size < 1) return false;
  const int n = 1 + data[0] % kMaxImages;
  label_file.set(data + 1, size - 1);
  std::vector<trim::ImageSample> samples;
  if (!trim::fuzz::accepted([&] { samples = trim::read_flat_val(folders.folder(n), label_file.path(), kClasses); }))
    return false;
  if (samples.size() != size_t(n)) trim::fuzz::invariant_failed("read_flat_val: not one sample per image");
  for (const auto& s : samples)
    if (s.label < 0 || s.label >= static_cast<int>(kClasses.size())) trim::fuzz::invariant_failed("label out of range");
  return true;
}
