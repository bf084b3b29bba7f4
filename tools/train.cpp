// train - trains a model on a data set: progress on stderr, a CSV log, checkpoints (best on
// validation, last, resumable), and the held-out test accuracy at the end.
//
//   train --model sicknet                       # Fashion-MNIST, 10 epochs, cosine from 0.05
//   train --model mobilenet_v1 --epochs 15
//   train --model runs/sicknet/sicknet.model --epochs 2 --lr 0.005   # fine-tune: writes runs/sicknet-finetune
//   train --model sicknet --data ~/three-class-folder --classes 0,2,6
//   mpirun -np 4 --hostfile hosts train --model mobilenet_v1 --batch 256   # data parallel
#include <cstdio>
#include <fstream>

#include "datasets/data_spec.h"
#include "framework/cli_options.h"
#include "framework/communicator.h"
#include "framework/evaluate.h"
#include "framework/model_file.h"
#include "framework/option_values.h"
#include "framework/strings.h"
#include "framework/train_keys.h"
#include "framework/trainer.h"
#include "interop/model_any.h"
#include "models/zoo.h"
#ifdef TRIM_HAVE_MPI
#include "distributed/mpi_tool.h"
#endif

using namespace trim;

namespace {

// Refuses an output folder whose files would replace the model file training starts from
// (its .model, .weights or .classes), compared as files, not as spellings of paths.
void refuse_overwriting_input(const std::string& model_path, const std::string& out_dir, const std::string& name) {
  for (const std::string& out_model : {out_dir + "/" + name + ".model", out_dir + "/" + name + "-last.model"})
    for (const auto& pair : {std::make_pair(model_path, out_model),
                             std::make_pair(weights_path_for(model_path), weights_path_for(out_model)),
                             std::make_pair(classes_path_for(model_path), classes_path_for(out_model))})
      refuse_overwrite(pair.first, pair.second, "--out " + out_dir);
}

int train_main(int argc, char** argv) {
  CliOptions o("train", "Train a trim model (built-in name or .model file) on a data set.");
  o.option("model", "sicknet", "sicknet | mobilenet_v1[:alpha=0.5,small=1] | path/to/NAME.model | path/to/NAME.onnx");
  o.option("data", "fashion-mnist", "fashion-mnist, a folder of IDX files, or an image folder");
  o.option("classes", "", "keep only these classes, e.g. 0,2,6 (relabelled 0..k-1)");
  TrainOptions defaults;
  declare_train_options(o, defaults,
                        {{"epochs", "epochs (default: 10; 15 for mobilenet_v1/v2; 3 to fine-tune a model file with weights)"},
                         {"lr", "base learning rate (default 0.05; 0.005 for a model file)"}});
  o.set("epochs", "");  // their defaults depend on the model (above), not on TrainOptions'
  o.set("lr", "");
  o.option("batch", "64", "batch size (under mpirun: the global batch, shared by the processes)");
  o.option("seed", "1", "seed for initialisation, shuffling, augmentation, dropout and the validation split");
  o.option("threads", "0", "compute threads (0: all cores)");
  o.option("workers", "2", "data loader threads");
  o.option("val-fraction", "0.1", "fraction of the training split held out for validation");
  o.option("image-size", "0", "image folders: input size in pixels (0: 224, or the model file's)");
  o.flag("strict", "image folders: an unreadable image is an error instead of a warning");
  o.flag("cache", "image folders: cache decoded images in one file");
  o.option("out", "", "output folder (default runs/<model>; runs/<model>-finetune for a model file, never the input's)");
  o.flag("resume", "continue a killed run from <out>/checkpoint.trim");
  o.flag("quiet", "no progress output");
  o.flag("sync-bn", "under mpirun: batch norm uses the statistics of the whole global batch, not each process's share");
  if (!o.parse(argc, argv)) {
    std::fputs(o.usage().c_str(), stdout);
    return 0;
  }
  const std::string spec = o.str("model");
  const bool from_file = ends_with(spec, ".model") || is_onnx_path(spec);  // NAME.onnx is imported
  const std::string base_name = from_file ? spec.substr(spec.find_last_of('/') + 1, std::string::npos) : spec.substr(0, spec.find(':'));
  const std::string name = from_file ? base_name.substr(0, base_name.find_last_of('.')) : base_name;

  Model model;
  int image_size = o.integer("image-size", 0, 16384);
  // A description with no weights beside it is a new architecture: it trains from scratch with
  // the built-ins' initialisation and defaults (eval, prune and latency still need weights).
  bool fresh = false;
  if (from_file && !is_onnx_path(spec) && !std::ifstream(weights_path_for(spec))) {
    model = model_from_desc(read_file(spec), spec);
    model.init_params(static_cast<uint64_t>(o.integer("seed", 0, 2147483647)));
    fresh = true;
    std::fprintf(stderr, "train: %s has no weights (%s): training from scratch with fresh weights\n", spec.c_str(),
                 weights_path_for(spec).c_str());
    if (image_size == 0) image_size = model.input[1];
  } else if (from_file) {
    model = load_model_any(spec);
    if (image_size == 0) image_size = model.input[1];
  }
  DataSpec ds;
  ds.data = o.str("data");
  ds.classes = o.int_list("classes");
  ds.val_fraction = o.number("val-fraction", 0, 1, false, true);
  ds.seed = static_cast<uint64_t>(o.integer("seed", 0, 2147483647));
  ds.image_size = image_size;
  ds.strict = o.on("strict");
  ds.cache = o.on("cache");
  DataSplits3 data = from_file ? open_data_for_model(ds, {spec, model.input, model.classes(), model.class_names}, "--classes")
                               : open_data(ds);
  Shape in = data.train->sample_shape();
  int classes = data.train->num_classes();
  if (!from_file) {
    model = build_model_by_name(spec, in[0], in[1], in[2], classes);
    model.init_params(ds.seed);
  }
  model.class_names = data.train->class_names();

  TrainOptions t = defaults;
  const bool finetune = from_file && !fresh;
  t.schedule.epochs = finetune ? 3 : name == "mobilenet_v1" || name == "mobilenet_v2" ? 15 : 10;
  t.schedule.base_lr = finetune ? 0.005f : 0.05f;
  apply_train_options(o, t);
  if (t.schedule.epochs < 1) throw Error("option --epochs: training needs at least 1 epoch");
  t.seed = ds.seed;
  t.threads = o.threads("threads");
  // Fine-tuning a model file writes next to its run, never into it: runs/x/x.model -> runs/x-finetune.
  t.out_dir = o.given("out") ? o.output_path("out") : "runs/" + name + (finetune ? "-finetune" : "");
  if (from_file) refuse_overwriting_input(spec, t.out_dir, name);
  t.name = name;
  t.resume = o.on("resume");
  t.progress = !o.on("quiet");
  const int batch = o.integer("batch", 1, 65536);
  const int workers = o.integer("workers", 0, kMaxWorkers);
  Communicator& comm = process_communicator();  // under mpirun: data parallel, one share per process
  t.parallel.comm = &comm;
  t.parallel.sync_bn = o.on("sync-bn");
  const int rank = comm.rank(), ranks = comm.size();

  if (comm.leader()) {
    std::fprintf(stderr, "train: %s, %lld MACs/image, %zu parameters\n  %s\n", name.c_str(),
                 static_cast<long long>(model.macs()), model.num_params(), data.describe().c_str());
    std::fprintf(stderr, "train: %d epochs, batch %d, %s lr %.4g, output %s\n", t.schedule.epochs, batch,
                 t.schedule.kind.c_str(), t.schedule.base_lr, t.out_dir.c_str());
    if (ranks > 1)
      std::fprintf(stderr, "train: %d processes, %d to %d samples of each batch each, batch norm %s\n", ranks,
                   batch / ranks, (batch + ranks - 1) / ranks, t.parallel.sync_bn ? "synchronised" : "per process");
  }
  auto train_src = make_batcher(data.train, batch, true, ds.seed, workers, rank, ranks);
  std::unique_ptr<Batcher> val_src;
  if (data.val) val_src = make_batcher(data.val, 256, false, ds.seed, workers, rank, ranks);
  TrainResult r = train(model, *train_src, val_src.get(), t);

  // The model now holds the best-on-validation weights; report them on the held-out test split.
  std::string summary;
  char line[512];
  std::snprintf(line, sizeof line, "model %s\nmacs %lld\nparams %zu\nepochs %d\nbest_epoch %d\nbest_val_acc %.4f\ntrain_images_per_s %.1f\n",
                name.c_str(), static_cast<long long>(model.macs()), model.num_params(), t.schedule.epochs, r.best_epoch,
                r.best_val_acc, r.images_per_s);
  summary += line;
  if (ranks > 1) {
    std::snprintf(line, sizeof line, "processes %d\ntrain_seconds %.2f\ngradient_sum_seconds %.2f\n", ranks,
                  r.train_seconds, r.gradient_sum_seconds);
    summary += line;
  }
  if (data.test) {
    auto test_src = make_batcher(data.test, 256, false, ds.seed, workers, rank, ranks);
    EvalResult e = evaluate(model, *test_src, t.threads, &comm);
    std::snprintf(line, sizeof line, "test_acc %.4f\ntest_top5 %.4f\ntest_loss %.4f\n", e.top1, e.top5, e.loss);
    summary += line;
    std::printf("test accuracy %.2f%% (top-5 %.2f%%) on %zu held-out images, best epoch %d (val %.2f%%)\n",
                100 * e.top1, 100 * e.top5, e.samples, r.best_epoch, 100 * r.best_val_acc);
  } else {
    std::printf("no test split in this data set; best validation accuracy %.2f%% (epoch %d)\n", 100 * r.best_val_acc,
                r.best_epoch);
  }
  if (comm.leader()) write_file_atomic(t.out_dir + "/result.txt", summary);
  std::printf("model: %s/%s.model (training throughput %.0f images/s)\n", t.out_dir.c_str(), name.c_str(), r.images_per_s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef TRIM_HAVE_MPI
  return run_mpi_tool("train", train_main, argc, argv);
#else
  return run_tool("train", train_main, argc, argv);
#endif
}
