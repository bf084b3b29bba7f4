// prune_run.h - one whole pruning run (the driver behind tools/prune): for each round, rank and
// choose (T-sensitive scan, or a baseline), prune by surgery, fine-tune, evaluate; iterate while
// the validation accuracy stays within total_threshold of the dense model; then measure latency of
// every kept model against the dense one in the same process, and write the pruned model, the
// per-round models, the scans (CSV + SVG) and the report (JSON + table) into the output folder.
#pragma once

#include <string>

#include "datasets/data_spec.h"
#include "framework/model.h"
#include "pruning/prune_config.h"
#include "pruning/report.h"

namespace trim {

// Output folder layout (paths relative to cfg.folder).
struct PruneOutputs {
  static constexpr const char* model = "pruned.model";  // + pruned.weights, pruned.classes
  static constexpr const char* report_json = "report.json";
  static constexpr const char* report_txt = "report.txt";
  static constexpr const char* summary = "summary.md";  // dense vs pruned table (Markdown)
  static constexpr const char* scan_csv = "scan.csv";  // every round's scan; scan_roundN.svg each
  static constexpr const char* config = "config.ini";  // the effective settings
};

// dense: the trained model (not modified). data: splits from open_data (train, val, test).
PruneReport run_pruning(const Model& dense, const DataSplits3& data, const PruneConfig& cfg);

// The splits a config asks for, with the class subset taken from the model's class names when
// the config names none and the model has fewer outputs than the data set has classes.
DataSplits3 open_data_for(const PruneConfig& cfg, const Model& model);

}  // namespace trim
