// report.h - what a pruning run reports (../shared/METHOD.md "What a pruning run reports"): per
// round and per layer the criterion, requested and achieved ratios, channels before and after; for
// the dense, every round's and the final model: parameters, MACs, validation and test accuracy
// (before and after fine-tuning) and batch-1 latency, with the speedup. Written as JSON (for
// scripts) and as a readable table (for people).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pruning/policy.h"

namespace trim {

struct ModelFigures {
  int64_t macs = 0;
  size_t params = 0;
  double val_acc = -1, test_acc = -1;  // [0, 1]; < 0: not measured
  double latency_ms = -1;              // median, batch 1; < 0: not measured
  std::vector<std::pair<std::string, int>> channels;  // prunable layer -> channels
};

struct RoundReport {
  int round = 0;
  int attempt = 1;       // > 1: a retry of the round with a smaller T
  double threshold = 0;  // T of this round (t_sensitive), points
  double scan_base_acc = -1, scan_seconds = 0;
  std::vector<LayerChoice> layers;
  ModelFigures pruned;           // after fine-tuning (val/test), latency of this round's model
  double val_before_finetune = -1;
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
  double final_val_before = -1;  // before the final fine-tuning
  double seconds = 0;
  std::vector<std::string> notes;  // layers that are not prunable, and why

  double speedup() const;        // dense latency / final latency
  double macs_reduction() const;  // dense MACs / final MACs
};

std::string report_json(const PruneReport& r);
std::string report_table(const PruneReport& r);

// The dense vs pruned comparison as a Markdown table (test accuracy, parameters, MACs, latency,
// speedup): what make demo prints and the README shows.
std::string report_comparison(const PruneReport& r);

// One line: "dense 92.10% -> pruned 91.60% (test), MACs x4.2, latency 3.1 -> 0.9 ms (x3.4)".
std::string report_summary(const PruneReport& r);

}  // namespace trim
