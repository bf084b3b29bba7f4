// report.h - what a pruning run reports (../shared/METHOD.md "What a pruning run reports"): per
// round and per layer the criterion, requested and achieved ratios, channels before and after; for
// the dense, every round's and the final model: parameters, MACs, validation and test accuracy
// (before and after fine-tuning) and batch-1 latency, with the speedup. Written as JSON (for
// scripts) and as a readable table (for people).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pruning/policy.h"

namespace trim {

struct ModelFigures {
  int64_t macs = 0;
  size_t params = 0;
  // Measured figures are optional: "not measured" is nullopt (written as null), never a value
  // that could be a real one.
  std::optional<double> val_acc, test_acc;  // [0, 1]
  std::optional<double> latency_ms;         // median, batch 1
  std::vector<std::pair<std::string, int>> channels;  // prunable layer -> channels
};

struct RoundReport {
  int round = 0;
  int attempt = 1;       // > 1: a retry of the round with a smaller T
  double threshold = 0;  // T of this round (t_sensitive), points
  std::optional<double> scan_base_acc;
  double scan_seconds = 0;
  std::vector<LayerChoice> layers;
  ModelFigures pruned;           // after fine-tuning (val/test), latency of this round's model
  std::optional<double> val_before_finetune;
  double finetune_seconds = 0;
  bool accepted = true;
  bool has_model = false;  // false when the round pruned nothing
  std::string note;
};

struct PruneReport {
  std::string model_path, data, mode, criterion, engine, config_ini, folder;
  int latency_threads = 1, latency_runs = 0;
  ModelFigures dense, final_model;
  std::vector<RoundReport> rounds;
  int final_epochs = 0;
  std::optional<double> final_val_before;  // before the final fine-tuning
  double seconds = 0;
  std::vector<std::string> notes;  // layers that are not prunable, and why

  std::optional<double> speedup() const;         // dense latency / final latency
  std::optional<double> macs_reduction() const;  // dense MACs / final MACs
  // Accuracy drops in points (dense - final): negative when the pruned model is better.
  std::optional<double> test_drop_points() const;
  std::optional<double> val_drop_points() const;
};

std::string report_json(const PruneReport& r);
std::string report_table(const PruneReport& r);

// The dense vs pruned comparison as a Markdown table (test accuracy, parameters, MACs, latency,
// speedup): what make demo prints and the README shows.
std::string report_comparison(const PruneReport& r);

// One line: "dense 92.10% -> pruned 91.60% (test), MACs x4.2, latency 3.1 -> 0.9 ms (x3.4)".
std::string report_summary(const PruneReport& r);

}  // namespace trim
