// parallel.h - OpenMP loops that stay out of OpenMP when they should run serially: libgomp
// allocates a team even for an if(false) or one-thread region, and the training step must not
// allocate. `par` is the caller's judgement that the work pays for a parallel region.
#pragma once

#include <omp.h>

#include <cstdint>

namespace trim {

// f(i) for i in [0, count), split statically over the threads.
template <class F>
void parallel_for(int count, bool par, F f) {
  if (!par || omp_get_max_threads() == 1) {
    for (int i = 0; i < count; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int i = 0; i < count; ++i) f(i);
}

// body(tid, nt) on every thread of one region, or body(0, 1) when serial.
template <class F>
void parallel_region(bool par, F body) {
  if (!par || omp_get_max_threads() == 1) {
    body(0, 1);
    return;
  }
#pragma omp parallel
  body(omp_get_thread_num(), omp_get_num_threads());
}

// The static share [begin, end) of `total` items for thread tid of nt.
inline void thread_range(int total, int tid, int nt, int& begin, int& end) {
  begin = static_cast<int>(static_cast<int64_t>(total) * tid / nt);
  end = static_cast<int>(static_cast<int64_t>(total) * (tid + 1) / nt);
}

}  // namespace trim
