// evaluate.h - accuracy of a model on a batch source: loss, top-1, top-5, per-class accuracy,
// confusion matrix. Eval mode (BN running statistics, no dropout).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/batch_source.h"
#include "framework/model.h"

namespace trim {

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;  // accuracies in [0, 1]
  size_t samples = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<double> per_class() const;        // recall per true class
  std::string report(const std::vector<std::string>& class_names) const;
};

EvalResult evaluate(Model& model, BatchSource& data, int threads = 0);

}  // namespace trim
