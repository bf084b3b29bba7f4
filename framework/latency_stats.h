// latency_stats.h - the one latency loop and the one percentile of the project (bench/latency,
// pruning's latency figures): functions timed in alternation (run i of each, then run i+1 of
// each), so a slow patch of a shared machine hits all of them alike, and order statistics with
// linear interpolation (numpy's default), so the median of an even count is the mean of the two
// middle runs.
#pragma once

#include <functional>
#include <vector>

namespace trim {

// Calls every function `warmup` times untimed (in alternation), then `after_warmup` (e.g. to
// reset per-layer profiles), then `runs` timed rounds. Returns per function its run times in ms.
std::vector<std::vector<double>> time_interleaved(const std::vector<std::function<void()>>& fns, int warmup, int runs,
                                                  const std::function<void()>& after_warmup = nullptr);

// q in [0, 1]: 0 the minimum, 0.5 the median, 1 the maximum; 0 for no samples.
double percentile(std::vector<double> v, double q);

}  // namespace trim
