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

class Communicator;

// comm (data parallelism): data gives this process its share of every batch, and the counts and
// the loss are summed over every process, so every process gets the result for the whole set
// (accuracies exactly those of one process; the loss to summation order).
EvalResult evaluate(Model& model, BatchSource& data, int threads = 0, Communicator* comm = nullptr);

}  // namespace trim
