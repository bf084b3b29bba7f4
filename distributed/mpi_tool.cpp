#include "distributed/mpi_tool.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "distributed/mpi_communicator.h"
#include "framework/cli_options.h"
#include "framework/tensor.h"

namespace trim {

namespace {

const char* g_program = "";
int (*g_body)(int, char**) = nullptr;

double timeout_from_env() {
  const char* v = std::getenv("TRIM_MPI_TIMEOUT");
  if (!v || !*v) return 900;
  char* end = nullptr;
  const double t = std::strtod(v, &end);
  if (*end || !(t >= 0)) throw Error("TRIM_MPI_TIMEOUT must be a number of seconds >= 0, got '" + std::string(v) + "'");
  return t;
}

// run_tool's body: run_tool has already re-executed the process for the fast BLAS core, so MPI
// starts in the final process image.
int body_under_mpi(int argc, char** argv) {
  int provided = 0;
  // Only the main thread calls MPI (loader and OpenMP threads never do; the watchdog exits
  // without MPI).
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rc = 1;
  {
    std::unique_ptr<MpiCommunicator> comm;
    try {
      comm.reset(new MpiCommunicator(g_program, timeout_from_env()));
      set_process_communicator(comm.get());
      if (comm->rank() != 0 && !std::freopen("/dev/null", "w", stdout))
        throw Error("cannot send rank " + std::to_string(comm->rank()) + "'s standard output to /dev/null");
      rc = g_body(argc, argv);
    } catch (const std::exception& e) {
      int rank = 0, size = 1;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      std::fprintf(stderr, "%s: error: rank %d of %d: %s\n", g_program, rank, size, e.what());
      std::fflush(stderr);
      std::fflush(stdout);
      MPI_Abort(MPI_COMM_WORLD, 1);
      return 1;  // not reached
    }
    std::fflush(stdout);
    comm->final_barrier();
    set_process_communicator(nullptr);
  }
  MPI_Finalize();
  return rc;
}

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

int run_mpi_tool(const char* program, int (*body)(int, char**), int argc, char** argv) {
  if (!launched_by_mpi()) return run_tool(program, body, argc, argv);
  g_program = program;
  g_body = body;
  return run_tool(program, body_under_mpi, argc, argv);
}

}  // namespace trim
