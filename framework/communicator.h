// communicator.h - what data-parallel training, evaluation and the sensitivity scan need from a
// group of processes: rank and size, sums over every process, broadcast and gather of bytes, and
// a barrier. framework/ uses only this interface; distributed/ implements it on MPI (only the
// host build has MPI). LocalCommunicator is the single process: every call is the identity, so
// code written against the interface runs unchanged, and exactly as before, without MPI.
//
// Every process must make the same calls in the same order (MPI's collective rule); the
// implementations give every process the same result bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace trim {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data[i] = sum over processes of data[i], in place. `what` names the step for error messages
  // and the stall watchdog (distributed/).
  virtual void sum(float* data, size_t n, const char* what) = 0;
  virtual void sum(double* data, size_t n, const char* what) = 0;
  // root's `bytes` bytes at data are copied to every process's data.
  virtual void broadcast(void* data, size_t bytes, int root, const char* what) = 0;
  // Every process contributes `bytes` bytes; out receives size() * bytes, process r's at r * bytes.
  virtual void gather_all(const void* in, size_t bytes, void* out, const char* what) = 0;
  virtual void barrier(const char* what) = 0;

  bool leader() const { return rank() == 0; }  // the process that prints and writes files
  // "rank 1 of 4": for messages.
  std::string who() const { return "rank " + std::to_string(rank()) + " of " + std::to_string(size()); }
};

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(float*, size_t, const char*) override {}
  void sum(double*, size_t, const char*) override {}
  void broadcast(void*, size_t, int, const char*) override {}
  void gather_all(const void* in, size_t bytes, void* out, const char*) override;
  void barrier(const char*) override {}
};

// The communicator of this process: the one a launcher installed (distributed/ under mpirun),
// a LocalCommunicator otherwise.
Communicator& process_communicator();
void set_process_communicator(Communicator* c);  // nullptr: back to the local one

// How a training run is spread over processes. comm == nullptr or a single process: the plain
// single-process trainer. sync_bn: batch-norm layers use the statistics of the whole global
// batch (forward statistics, running averages and their backward) instead of each process's share.
struct DataParallel {
  Communicator* comm = nullptr;
  bool sync_bn = false;
  bool active() const { return comm && comm->size() > 1; }
};

// Sample range [begin, end) of process `rank` out of `ranks` in a batch of n samples: contiguous
// shares whose sizes differ by at most one (the first n % ranks processes take the larger ones).
void batch_share(size_t n, int rank, int ranks, size_t& begin, size_t& end);

}  // namespace trim
