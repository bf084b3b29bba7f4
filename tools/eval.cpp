// eval - accuracy of a trained model on a data set: top-1, top-5, per-class accuracy and the
// confusion matrix.
//
//   eval --model runs/sicknet/sicknet.model                  # Fashion-MNIST test split
//   eval --model runs/three/sicknet.model --classes 0,2,6 --split val
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
  o.option("classes", "", "keep only these classes, e.g. 0,2,6 (as the model was trained)");
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
  Model model = load_model(o.str("model"));
  DataSpec ds;
  ds.data = o.str("data");
  ds.classes = o.int_list("classes");
  ds.val_fraction = o.number("val-fraction");
  ds.seed = static_cast<uint64_t>(o.integer("seed"));
  ds.image_size = model.input[1];
  ds.strict = o.on("strict");
  DataSplits3 data = open_data(ds);
  std::string split = o.str("split");
  std::shared_ptr<Dataset> d = split == "test" ? data.test : split == "val" ? data.val : split == "train" ? data.train : nullptr;
  if (split != "test" && split != "val" && split != "train") throw Error("--split must be test, val or train, got '" + split + "'");
  if (!d) throw Error("the data set has no " + split + " split");
  check_shape(d->sample_shape(), model.input, "data set sample vs model input");
  if (d->num_classes() != model.classes())
    throw Error(o.str("model") + " has " + std::to_string(model.classes()) + " outputs but the data set has " +
                std::to_string(d->num_classes()) + " classes (use --classes as in training)");
  auto src = make_batcher(d, o.integer("batch"), false, ds.seed);
  EvalResult r = evaluate(model, *src, o.integer("threads"));
  std::vector<std::string> names = model.class_names.empty() ? d->class_names() : model.class_names;
  std::printf("%s on %s (%s split)\n%s", o.str("model").c_str(), d->describe().c_str(), split.c_str(),
              r.report(names).c_str());
  if (src->skipped_samples()) std::printf("%zu unreadable samples skipped\n", src->skipped_samples());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("eval", eval_main, argc, argv); }
