// eval - accuracy of a trained model on a data set: top-1, top-5, per-class accuracy and the
// confusion matrix.
//
//   eval --model runs/sicknet/sicknet.model                  # Fashion-MNIST test split
//   eval --model runs/three/sicknet.model --split val      # classes picked by the model's names
#include <cstdio>

#include "datasets/data_spec.h"
#include "framework/cli_options.h"
#include "framework/evaluate.h"
#include "framework/model_file.h"

using namespace trim;

namespace {

int eval_main(int argc, char** argv) {
  CliOptions o("eval", "Evaluate a trim model: top-1/top-5, per-class accuracy, confusion matrix.");
  o.option("model", "", "path/to/NAME.model (required)");
  o.option("data", "fashion-mnist", "fashion-mnist, a folder of IDX files, or an image folder");
  o.option("classes", "", "keep only these classes, e.g. 0,2,6 (default: the model's NAME.classes picks them by name)");
  o.option("split", "test", "test | val | train");
  o.option("val-fraction", "0.1", "as used in training (defines the val split)");
  o.option("seed", "1", "as used in training (defines the val split)");
  o.option("batch", "256", "batch size");
  o.option("threads", "0", "compute threads (0: all cores)");
  o.flag("strict", "image folders: an unreadable image is an error");
  if (!o.parse(argc, argv)) {
    std::fputs(o.usage().c_str(), stdout);
    return 0;
  }
  if (o.str("model").empty()) throw Error("--model is required (a NAME.model file)");
  const std::string path = o.str("model");
  Model model = load_model(path);
  DataSpec ds;
  ds.data = o.str("data");
  ds.classes = o.int_list("classes");
  ds.val_fraction = o.number("val-fraction", 0, 1, false, true);
  ds.seed = static_cast<uint64_t>(o.integer("seed", 0, 2147483647));
  ds.image_size = model.input[1];
  ds.strict = o.on("strict");
  const std::string split = o.str("split");
  if (split != "test" && split != "val" && split != "train") throw Error("--split must be test, val or train, got '" + split + "'");
  DataSplits3 data = open_data_for_model(ds, {path, model.input, model.classes(), model.class_names}, "--classes");
  std::shared_ptr<Dataset> d = split == "test" ? data.test : split == "val" ? data.val : data.train;
  if (!d) throw Error("the data set has no " + split + " split");
  auto src = make_batcher(d, o.integer("batch", 1, 65536), false, ds.seed);
  EvalResult r = evaluate(model, *src, o.threads("threads"));
  std::vector<std::string> names = model.class_names.empty() ? d->class_names() : model.class_names;
  std::printf("%s on %s (%s split)\n%s", path.c_str(), d->describe().c_str(), split.c_str(),
              r.report(names).c_str());
  if (src->skipped_samples()) std::printf("%zu unreadable samples skipped\n", src->skipped_samples());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("eval", eval_main, argc, argv); }
