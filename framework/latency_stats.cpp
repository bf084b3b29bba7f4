#include "framework/latency_stats.h"

#include <algorithm>
#include <chrono>

#include "framework/tensor.h"

namespace trim {

std::vector<std::vector<double>> time_interleaved(const std::vector<std::function<void()>>& fns, int warmup, int runs,
                                                  const std::function<void()>& after_warmup) {
  if (runs < 1) throw Error("latency: runs must be at least 1, got " + std::to_string(runs));
  if (warmup < 0) throw Error("latency: warm-up runs must be >= 0, got " + std::to_string(warmup));
  for (int w = 0; w < warmup; ++w)
    for (const auto& f : fns) f();
  if (after_warmup) after_warmup();
  std::vector<std::vector<double>> ms(fns.size());
  for (auto& m : ms) m.reserve(static_cast<size_t>(runs));
  for (int r = 0; r < runs; ++r)
    for (size_t i = 0; i < fns.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      fns[i]();
      ms[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  return ms;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = std::min(1.0, std::max(0.0, q)) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace trim
