// mpi_communicator.h - Communicator (framework/communicator.h) on MPI_COMM_WORLD: sums are
// MPI_Allreduce, broadcast MPI_Bcast, gather_all MPI_Allgather, all in place and in pieces below
// MPI's int counts.
//
// A stall watchdog ends the process when one collective has waited longer than `timeout_s`:
// MPI's own failure handling ends the job when a process dies, but not when one is alive and
// stuck (a hung file system, a stopped process, a machine that went silent without closing its
// connections). The watchdog prints the rank, the step it was waiting in and for how long, and
// exits non-zero; mpirun then ends the other processes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "framework/communicator.h"

namespace trim {

class MpiCommunicator : public Communicator {
 public:
  // MPI must be initialised. program names the tool in the watchdog's message; timeout_s <= 0
  // turns the watchdog off.
  MpiCommunicator(const std::string& program, double timeout_s);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(float* data, size_t n, const char* what) override;
  void sum(double* data, size_t n, const char* what) override;
  void broadcast(void* data, size_t bytes, int root, const char* what) override;
  void gather_all(const void* in, size_t bytes, void* out, const char* what) override;
  // Waits without spinning (MPI_Ibarrier polled with short sleeps), so processes that finished
  // early leave the cores to the others (rank 0 measuring latency at the end of a pruning run).
  void barrier(const char* what) override;
  // The same without the watchdog: the end of a run, however long rank 0 still works alone.
  void final_barrier();

 private:
  struct Watch;  // marks one collective as in progress for the watchdog
  void watchdog();
  int rank_ = 0, size_ = 1;
  std::string program_;
  double timeout_s_;
  std::atomic<const char*> waiting_in_{nullptr};
  std::atomic<int64_t> waiting_since_ns_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace trim
