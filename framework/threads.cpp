#include "framework/threads.h"

#include <omp.h>

#include "framework/blas.h"

namespace trim {

ThreadScope::ThreadScope(int threads) : saved_(omp_get_max_threads()) {
  blas_single_threaded();
  if (threads > 0) omp_set_num_threads(threads);
}

ThreadScope::~ThreadScope() { omp_set_num_threads(saved_); }

int max_threads() { return omp_get_max_threads(); }

}  // namespace trim
