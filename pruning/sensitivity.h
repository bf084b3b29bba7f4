// sensitivity.h - the sensitivity scan of T-sensitive pruning (../shared/METHOD.md step 1): for
// each prunable layer alone, remove a ratio r of its lowest-ranked channels, measure the accuracy
// on a validation subset, and record drop(layer, r) = acc(unpruned) - acc(pruned) in points.
//
// The model itself is never modified: each (layer, ratio) is a pruned copy from surgery, so the
// scan measures exactly the model that pruning would produce. Layers before the pruned one are
// identical in every copy, so their activations are computed once per batch and shared.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "framework/model.h"
#include "pruning/criterion.h"
#include "pruning/dependency.h"

namespace trim {

// A validation subset held in memory as ready batches (deterministic evaluation transform).
struct SampleSet {
  std::vector<Tensor> batches;
  std::vector<std::vector<int>> labels;
  size_t size() const;
};

// Up to max_samples samples (0: all) spread evenly over the data set.
SampleSet load_samples(const Dataset& d, size_t max_samples, int batch = 250);

// Top-1 accuracy in [0, 1] in eval mode.
double accuracy(Model& m, const SampleSet& s);

struct ScanOptions {
  std::vector<double> ratios = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  bool progress = true;
  std::string label = "scan";
};

struct ScanCurve {
  std::string layer;
  int channels = 0;
  std::vector<double> ratios;
  std::vector<int> removed;  // channels removed at each ratio (-1: the ratio would remove them all)
  std::vector<double> acc;   // accuracy in [0, 1] (NaN when not measured)
  std::vector<double> drop;  // acc(unpruned) - acc, in points (NaN when not measured)
};

struct ScanResult {
  double base_acc = 0;  // the unpruned model on the same subset, in [0, 1]
  size_t samples = 0;
  double seconds = 0;
  std::string criterion;
  std::vector<ScanCurve> layers;
};

// Channels removed when a ratio r of `channels` is asked for: round(r * channels).
int channels_for_ratio(int channels, double ratio);

ScanResult sensitivity_scan(const Model& m, const GroupAnalysis& a, const Criterion& crit, const SampleSet& data,
                            const ScanOptions& opt);

// CSV: round,layer,channels,ratio,removed,accuracy,drop_points (one row per layer and ratio).
std::string scan_csv(const ScanResult& s, int round, bool header = true);

}  // namespace trim
