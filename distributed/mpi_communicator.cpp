#include "distributed/mpi_communicator.h"

#include <mpi.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "framework/tensor.h"

namespace trim {

namespace {

// MPI counts are ints: move big blocks in pieces of at most 2^30 elements.
constexpr size_t kPiece = size_t(1) << 30;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct MpiCommunicator::Watch {
  MpiCommunicator& c;
  Watch(MpiCommunicator& comm, const char* what) : c(comm) {
    c.waiting_since_ns_.store(now_ns());
    c.waiting_in_.store(what);
  }
  ~Watch() { c.waiting_in_.store(nullptr); }
};

MpiCommunicator::MpiCommunicator(const std::string& program, double timeout_s)
    : program_(program), timeout_s_(timeout_s) {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  if (timeout_s_ > 0 && size_ > 1) watchdog_ = std::thread([this] { watchdog(); });
}

MpiCommunicator::~MpiCommunicator() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void MpiCommunicator::watchdog() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!cv_.wait_for(lk, std::chrono::milliseconds(200), [this] { return stop_; })) {
    const char* what = waiting_in_.load();
    if (!what) continue;
    const double waited = static_cast<double>(now_ns() - waiting_since_ns_.load()) * 1e-9;
    if (waited < timeout_s_ || waiting_in_.load() != what) continue;
    // Not MPI_Abort: MPI may only be called from the main thread. Exiting without MPI_Finalize
    // makes mpirun end the job.
    std::fprintf(stderr,
                 "%s: error: rank %d of %d: waited %.0f s in '%s' for the other processes without progress "
                 "(a process stalled or a machine stopped answering); ending the job "
                 "(TRIM_MPI_TIMEOUT=%g s; set it higher for legitimately longer waits, 0 for none)\n",
                 program_.c_str(), rank_, size_, waited, what, timeout_s_);
    std::fflush(stderr);
    std::_Exit(3);
  }
}

void MpiCommunicator::sum(float* data, size_t n, const char* what) {
  Watch w(*this, what);
  for (size_t i = 0; i < n; i += kPiece)
    MPI_Allreduce(MPI_IN_PLACE, data + i, static_cast<int>(std::min(kPiece, n - i)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

void MpiCommunicator::sum(double* data, size_t n, const char* what) {
  Watch w(*this, what);
  for (size_t i = 0; i < n; i += kPiece)
    MPI_Allreduce(MPI_IN_PLACE, data + i, static_cast<int>(std::min(kPiece, n - i)), MPI_DOUBLE, MPI_SUM,
                  MPI_COMM_WORLD);
}

void MpiCommunicator::broadcast(void* data, size_t bytes, int root, const char* what) {
  Watch w(*this, what);
  char* p = static_cast<char*>(data);
  for (size_t i = 0; i < bytes; i += kPiece)
    MPI_Bcast(p + i, static_cast<int>(std::min(kPiece, bytes - i)), MPI_BYTE, root, MPI_COMM_WORLD);
}

void MpiCommunicator::gather_all(const void* in, size_t bytes, void* out, const char* what) {
  if (bytes > static_cast<size_t>(INT_MAX))
    throw Error(std::string("gather of ") + std::to_string(bytes) + " bytes per process is too large (" + what + ")");
  Watch w(*this, what);
  MPI_Allgather(in, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes), MPI_BYTE, MPI_COMM_WORLD);
}

namespace {
void sleepy_barrier() {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  for (int done = 0;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    ::usleep(1000);
  }
}
}  // namespace

void MpiCommunicator::barrier(const char* what) {
  Watch w(*this, what);
  sleepy_barrier();
}

void MpiCommunicator::final_barrier() { sleepy_barrier(); }

}  // namespace trim
