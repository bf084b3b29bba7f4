// mpi_tool.h - the main() of a tool that can run as one process of an MPI job.
//
// Started by an MPI launcher (mpirun, mpiexec, srun: it sets OMPI_COMM_WORLD_SIZE, PMIX_RANK or
// PMI_RANK), the tool initialises MPI and installs an MpiCommunicator as the process
// communicator (framework/communicator.h); started any other way it is exactly the
// single-process tool (no MPI call at all). Under MPI:
//   - processes other than rank 0 send stdout to /dev/null (rank 0 prints results);
//   - an error on any process prints "PROGRAM: error: rank R of N: MESSAGE" and ends the whole
//     job with MPI_Abort, so the others never wait for it;
//   - TRIM_MPI_TIMEOUT (seconds, default 900, 0: off) bounds any one wait for the other
//     processes (distributed/mpi_communicator.h).
#pragma once

namespace trim {

int run_mpi_tool(const char* program, int (*body)(int, char**), int argc, char** argv);

// True when an MPI launcher started this process.
bool launched_by_mpi();

}  // namespace trim
