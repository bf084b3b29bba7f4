// threads.h - one place that sets the number of compute threads (OpenMP) and keeps OpenBLAS to
// one thread, so the two pools never fight over the cores; and the one range every thread count
// a caller passes (training, evaluation, the inference engine) must lie in.
#pragma once

#include <string>

namespace trim {

// Thread counts are 0 (OpenMP's default: OMP_NUM_THREADS or the number of cores) or
// 1..kMaxThreads. Far more than any machine trim targets, and small enough that per-thread
// scratch times the count cannot overflow or exhaust memory by itself.
constexpr int kMaxThreads = 1024;

// The thread count `requested` resolves to (0: OpenMP's default). Throws Error naming `who` for
// a count outside 0..kMaxThreads, or a default above kMaxThreads (OMP_NUM_THREADS=100000).
int resolve_threads(int requested, const std::string& who);

// Sets OpenMP's thread count for its lifetime (0: leave as is), restoring it after. Throws
// Error for a count outside 0..kMaxThreads.
class ThreadScope {
 public:
  explicit ThreadScope(int threads);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

int max_threads();

}  // namespace trim
