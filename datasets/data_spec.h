// data_spec.h - turns what a user types (--data, --classes, --val-fraction) into the three
// splits every tool uses: train (minus validation), validation carved from train, held-out test.
// Pruning ratios and checkpoints are chosen on validation; test is only reported.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "datasets/batcher.h"
#include "datasets/dataset.h"

namespace trim {

struct DataSpec {
  std::string data;             // "" or "fashion-mnist": the Debian package's IDX files;
                                // a folder holding IDX files; an image folder (any layout)
  std::vector<int> classes;     // keep only these classes, relabelled 0..k-1 (empty: all)
  double val_fraction = 0.1;    // carved from the training split
  uint64_t seed = 1;            // for the validation split
  int image_size = 0;           // image folders: crop size (0: layout default)
  bool strict = false;          // image folders: unreadable image is an error, not a warning
  bool cache = false;           // image folders: cache decoded images in one file
};

struct DataSplits3 {
  std::shared_ptr<Dataset> train, val, test;  // val may be null when val_fraction == 0;
                                              // test may be null when the layout ships none
  std::string describe() const;
};

DataSplits3 open_data(const DataSpec& spec);

// What a model expects of its data (built from a Model by the caller: datasets/ knows no models).
struct ModelExpects {
  std::string name;                      // the model file, for messages
  Shape input;                           // C x H x W
  int classes = 0;                       // outputs
  std::vector<std::string> class_names;  // empty: the model file has no NAME.classes
};

// The data-vs-model check every tool uses (train from a model file, eval, prune). When the model
// has class names, its classes are picked from the data set by name, in the model's order (a
// name may also match the folder name export-images gives it, "T-shirt/top" -> "T-shirt_top");
// a spec.classes that picks other classes or another order is an error. Without names,
// spec.classes is taken as given. Then the sample shape and the class count must match the
// model. Errors name the model and say which option to change (`classes_option`: "--classes",
// "[data] classes").
DataSplits3 open_data_for_model(DataSpec spec, const ModelExpects& model, const std::string& classes_option);

// Batch sources for the splits, with the training augmentation on train only.
std::unique_ptr<Batcher> make_batcher(std::shared_ptr<const Dataset> data, int batch, bool train, uint64_t seed,
                                      int workers = 2, int shard = 0, int shards = 1);

}  // namespace trim
