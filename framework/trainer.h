// trainer.h - the training loop: SGD over a batch source for a number of epochs, validation each
// epoch, a CSV log, progress on stderr, checkpoints (last and best-on-validation) and resume.
// Each batch is one train_step() (train_step.h), the same function the benchmarks and tests run.
//
// Kill safety: after every epoch one checkpoint file (model description, weights, optimizer
// velocity, epoch, best score) is written to a temporary name and renamed. --resume reloads it
// and continues with the next epoch; because batch order, augmentation and dropout masks are
// pure functions of (seed, epoch, step), a resumed run equals an uninterrupted one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "framework/batch_source.h"
#include "framework/communicator.h"
#include "framework/model.h"
#include "framework/optimizer.h"
#include "framework/train_step.h"

namespace trim {

struct TrainOptions {
  LrSchedule schedule;
  SgdOptions sgd;
  uint64_t seed = 1;
  int threads = 0;              // 0: OpenMP default
  std::string out_dir;          // checkpoints, log.csv; empty: write nothing
  std::string name = "model";   // out_dir/<name>.model (best) and <name>-last.model
  bool resume = false;          // continue from out_dir/checkpoint.trim if it exists
  int stop_after = 0;           // > 0: return after this many epochs in total (time-boxed runs;
                                // --resume continues exactly where it stopped)
  bool progress = true;         // progress on stderr
  std::string label = "train";  // prefix of progress lines ("finetune round 2", ...)
  // Called inside every training step (train_step.h): after_backward sits between backward and
  // the SGD update, where a distributed run reduces the gradients. Not owned; nullptr: none.
  StepHooks* hooks = nullptr;
  // Synchronous data-parallel SGD over several processes (framework/data_parallel.h): the batch
  // source gives this process its share of every global batch; only rank 0 prints and writes
  // files; a resumed run reads rank 0's checkpoint. Default: one process, as before.
  DataParallel parallel;
};

struct EpochStats {
  int epoch = 0;  // 1-based
  float lr = 0;
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, seconds = 0, images_per_s = 0;
  size_t skipped = 0;
};

struct TrainResult {
  std::vector<EpochStats> epochs;
  double best_val_acc = -1;
  int best_epoch = 0;
  double images_per_s = 0;  // training throughput over the whole run (forward+backward+update)
  double train_seconds = 0;         // wall time of the training steps over the run (not validation)
  double gradient_sum_seconds = 0;  // of which summing gradients over processes (data parallel)
  size_t gradient_sums = 0;         // steps whose gradients were summed over processes
};

// Trains in place. At the end the model holds the weights of the best validation epoch when a
// validation source is given (the last epoch otherwise). Throws Error on bad options, a diverged
// loss (NaN) or an I/O failure (naming the file).
TrainResult train(Model& model, BatchSource& train_data, BatchSource* val_data, const TrainOptions& opt);

// Checkpoint file path inside an output folder.
std::string checkpoint_path(const std::string& out_dir);

}  // namespace trim
