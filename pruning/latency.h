// latency.h - batch-1 inference latency of several models measured in one run, interleaved
// (model A, B, C, A, B, C, ...) so that a slow patch of a shared machine hits all of them alike;
// the median of each is reported. One function, so the engine behind it can change in one place.
#pragma once

#include <string>
#include <vector>

#include "framework/model.h"

namespace trim {

struct LatencyOptions {
  int runs = 200;    // timed runs per model
  int warmup = 20;   // untimed runs per model first
  int threads = 1;   // compute threads during the measurement
};

struct Latency {
  double median_ms = 0, p10_ms = 0, p90_ms = 0;
};

// One Latency per model, in order, each run through the inference engine (framework/engine: the
// deploy path every tool uses) on one image. The input values do not matter: dense float
// inference costs the same whatever they are.
std::vector<Latency> measure_latency(const std::vector<Model*>& models, const LatencyOptions& opt);

// What measure_latency runs the models with, for reports.
std::string latency_engine();

}  // namespace trim
