// prune_config.h - the settings of one pruning run, read from an ini file (cfg.ini) with
// [model], [data], [pruning], [finetune] and [output] sections of key = value lines, overridden
// by command-line flags. An unknown section or key, a key given twice, or a bad value is an
// Error naming the file, the line and the key (or the command-line flag).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "framework/trainer.h"

namespace trim {

struct PruneConfig {
  // [model]
  std::string model_path;  // NAME.model (or NAME.onnx, imported) of the trained dense model
  // [data]
  std::string data = "fashion-mnist";
  std::vector<int> classes;  // empty: the model's class names decide (all classes by default)
  double val_fraction = 0.1;
  uint64_t seed = 1;  // validation split, fine-tuning, random criterion
  int workers = 2;
  // [pruning]
  std::string mode = "t_sensitive";  // t_sensitive | uniform | global
  std::string criterion = "mean_weight";
  std::vector<double> thresholds = {1.0};  // T in accuracy points, one per round (the last repeats)
  double total_threshold = 1.0;            // T_total: stop iterating when val drops more (points)
  std::vector<double> ratios = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  double max_ratio = 0.9;
  int min_channels = 8;
  int round_to = 1;
  std::string round = "up";  // up | nearest (see RatioLimits)
  int iterations = 1;       // rounds of scan -> prune -> fine-tune
  int retries = 0;          // a round past total_threshold is retried with T halved this often
  int scan_samples = 2000;  // validation images for the scan (0: all)
  double ratio = 0.5;       // uniform: the ratio per layer; global: the fraction of all channels
  double target_macs = 0;   // uniform/global: final MACs as a fraction of dense (0: use ratio)
  // [finetune]: the training keys of framework/train_keys.h (epochs, lr, schedule, milestones,
  // gamma, warmup, momentum, nesterov, weight_decay, decay_bn_bias), mapped into TrainOptions
  // exactly as tools/train maps its options; plus the keys below, which only pruning has.
  TrainOptions finetune = default_finetune();
  int final_epochs = 0;  // extra fine-tuning of the last accepted model
  double final_lr = 0;   // 0: same as finetune's lr
  // Dropout probability while fine-tuning (< 0: the model's own). Pruning a hidden FC layer from
  // 256 to a handful of units leaves p = 0.5 dropping half of what is left.
  double dropout = -1;
  int batch = 64;
  // [output]
  std::string folder = "runs/prune";
  int threads = 0;  // compute threads (0: all cores)
  int latency_runs = 200;
  int latency_threads = 1;
  bool quiet = false;
  std::string onnx_out;  // also write the pruned model as ONNX here (empty: no)
  bool resume = false;  // not a file key: tools/prune --resume (continue a killed run)

  double threshold_for_round(int round) const;  // 1-based
  // Fine-tuning's defaults: 3 epochs, cosine from 0.01, Nesterov momentum 0.9, weight decay 5e-4.
  static TrainOptions default_finetune();
};

// One settable key: ini section and key, the command-line flag that overrides it, and help.
struct ConfigKey {
  std::string section, key, flag, dflt, help;
};
const std::vector<ConfigKey>& prune_config_keys();

// text: the ini file's contents (may be empty); filename names it in errors. overrides: (flag,
// value) pairs from the command line, applied after the file, named "command line --flag".
PruneConfig parse_prune_config(const std::string& text, const std::string& filename,
                               const std::vector<std::pair<std::string, std::string>>& overrides = {});

// The effective settings as an ini file (reports and reproducibility).
std::string config_to_ini(const PruneConfig& c);

}  // namespace trim
