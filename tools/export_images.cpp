// export-images - writes an IDX data set (Fashion-MNIST by default) out as an image folder:
// <out>/train/<class>/<index>.png and <out>/test/<class>/<index>.png, so that the image-folder
// path of train and eval can be run on real images and compared with the IDX path.
//
//   export-images --out data/fmnist3 --classes 0,1,2      # a real 3-class set (T-shirt, Trouser, Pullover)
//   export-images --out data/fmnist --format jpg --limit 500
//   export-images --images x-idx3-ubyte --labels y-idx1-ubyte --out data/x
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "framework/cli_options.h"

using namespace trim;

namespace {

int export_main(int argc, char** argv) {
  CliOptions o("export-images", "Write an IDX data set (Fashion-MNIST by default) out as an image folder of PNGs.");
  o.option("data", kFashionMnistDir, "folder holding Fashion-MNIST's IDX files (train-*, t10k-*)");
  o.option("images", "", "instead of --data: one IDX image file (plain or .gz)...");
  o.option("labels", "", "...and its IDX label file; written to <out>/<class>/");
  o.option("out", "", "output folder (must be new or empty)");
  o.option("classes", "", "only these classes, e.g. 0,1,2 (default: all)");
  o.option("format", "png", "png | jpg | bmp");
  o.option("quality", "95", "JPEG quality 1..100");
  o.option("limit", "0", "at most this many images per class and split (0: all)");
  if (!o.parse(argc, argv)) {
    std::fputs(o.usage().c_str(), stdout);
    return 0;
  }
  const std::string out = o.output_path("out");
  // The whole output folder must be new or empty, not only the train/ and test/ written into it.
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !std::filesystem::is_empty(out, ec))
    throw Error(out + ": already holds files; export into an empty or new folder");
  if (o.str("images").empty() != o.str("labels").empty()) throw Error("--images and --labels go together");

  ExportOptions e;
  e.format = o.str("format");
  e.jpeg_quality = o.integer("quality", 1, 100);
  e.classes = o.int_list("classes");
  e.limit = static_cast<size_t>(o.integer("limit", 0, 1 << 30));
  // Load unnormalised (mean 0, std 1): values are pixel / 255 and map back to bytes exactly.
  IdxOptions raw;
  raw.mean = 0.f;
  raw.std = 1.f;

  std::vector<std::pair<std::string, std::shared_ptr<Dataset>>> parts;
  if (!o.str("images").empty()) {
    parts.emplace_back("", load_idx(o.str("images"), o.str("labels"), o.str("images"), {}, raw));
  } else {
    parts.emplace_back("train", load_fashion_mnist(o.str("data"), true, raw));
    parts.emplace_back("test", load_fashion_mnist(o.str("data"), false, raw));
  }
  for (auto& part : parts) {
    const std::string dir = part.first.empty() ? out : out + "/" + part.first;
    size_t n = export_image_folder(*part.second, dir, e);
    std::printf("export-images: %zu images of %s -> %s\n", n, part.second->describe().c_str(), dir.c_str());
  }
  std::vector<std::string> names = parts.front().second->class_names();
  std::string kept;
  for (size_t c = 0; c < names.size(); ++c)
    if (e.classes.empty() || std::find(e.classes.begin(), e.classes.end(), int(c)) != e.classes.end())
      kept += (kept.empty() ? "" : ", ") + safe_class_folder_name(names[c]);
  std::printf("export-images: classes (folder names, sorted by the loader): %s\n", kept.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("export-images", export_main, argc, argv); }
