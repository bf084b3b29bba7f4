// Shared by the MPI tests (tests/test_distributed_*.cpp): tools run under `mpirun -np N` on
// this machine only (loopback: shared memory between the processes), and weight comparisons.
//
// The environment is set for containers and CI: Open MPI refuses to run as root without
// OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM); only the self and shared-memory transports are used (no
// network needed); vader's single-copy mechanism (CMA/ptrace) is often forbidden in containers.
#pragma once

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "framework/model.h"
#include "test_tool_fixtures.h"

namespace trim {
namespace mpi_test {

inline void set_loopback_mpi_env() {
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  ::setenv("OMPI_MCA_btl", "self,vader", 1);
  ::setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  ::setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
  // One compute thread per process: 2 processes on this 2-core machine.
  ::setenv("OMP_NUM_THREADS", "1", 1);
}

// argv of `mpirun -np n --oversubscribe <tool args...>`.
inline std::vector<std::string> mpirun(int n, const std::vector<std::string>& tool_args) {
  std::vector<std::string> a = {TRIM_MPIEXEC, "-np", std::to_string(n), "--oversubscribe"};
  a.insert(a.end(), tool_args.begin(), tool_args.end());
  return a;
}

struct WeightDiff {
  double max_abs = 0;  // largest |a - b| over every parameter and buffer
  double max_rel = 0;  // largest |a - b| / max(|a|, |b|, 1e-3)
  std::string where;   // the tensor holding max_rel
};

// Both models must have the same layout (the same description).
inline WeightDiff weight_diff(Model& a, Model& b) {
  WeightDiff d;
  std::vector<NamedParam> pa = a.params(), pb = b.params();
  if (pa.size() != pb.size()) {
    d.max_abs = d.max_rel = INFINITY;
    d.where = "different layouts";
    return d;
  }
  for (size_t i = 0; i < pa.size(); ++i) {
    const Tensor& x = *pa[i].value;
    const Tensor& y = *pb[i].value;
    if (x.numel() != y.numel()) {
      d.max_abs = d.max_rel = INFINITY;
      d.where = pa[i].name + " sizes differ";
      return d;
    }
    for (size_t k = 0; k < x.numel(); ++k) {
      const double e = std::fabs(static_cast<double>(x[k]) - y[k]);
      const double r = e / std::max({std::fabs(static_cast<double>(x[k])), std::fabs(static_cast<double>(y[k])), 1e-3});
      if (!(e <= d.max_abs)) d.max_abs = e;
      if (!(r <= d.max_rel)) {
        d.max_rel = r;
        d.where = pa[i].name + "[" + std::to_string(k) + "]";
      }
    }
  }
  return d;
}

}  // namespace mpi_test
}  // namespace trim
