#include "framework/threads.h"

#include <omp.h>

#include "framework/blas.h"
#include "framework/tensor.h"

namespace trim {

int resolve_threads(int requested, const std::string& who) {
  const std::string range = " (0: all cores, or 1.." + std::to_string(kMaxThreads) + ")";
  if (requested < 0 || requested > kMaxThreads)
    throw Error(who + ": thread count " + std::to_string(requested) + " is out of range" + range);
  if (requested > 0) return requested;
  const int dflt = omp_get_max_threads();
  if (dflt < 1 || dflt > kMaxThreads)
    throw Error(who + ": OpenMP's default thread count (OMP_NUM_THREADS) is " + std::to_string(dflt) +
                ", out of range" + range);
  return dflt;
}

ThreadScope::ThreadScope(int threads) : saved_(omp_get_max_threads()) {
  resolve_threads(threads, "thread count");
  blas_single_threaded();
  if (threads > 0) omp_set_num_threads(threads);
}

ThreadScope::~ThreadScope() { omp_set_num_threads(saved_); }

int max_threads() { return omp_get_max_threads(); }

}  // namespace trim
