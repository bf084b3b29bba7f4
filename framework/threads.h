// threads.h - one place that sets the number of compute threads (OpenMP) and keeps OpenBLAS to
// one thread, so the two pools never fight over the cores.
#pragma once

namespace trim {

// Sets OpenMP's thread count for its lifetime (threads <= 0: leave as is), restoring it after.
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
