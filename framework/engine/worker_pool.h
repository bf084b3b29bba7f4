// worker_pool.h - the inference engine's threads: persistent workers that help with a job when
// they are running, and are never waited for when they are not.
//
// Why not an OpenMP parallel region per image: a region ends with a join, so every image waits
// for every team thread to have run at least once. On a shared machine (more runnable threads
// than cores) a descheduled worker costs the image a whole scheduler time slice: measured with
// MobileNet V1 at 2 threads, ~8 ms of a ~20 ms run was the join. Here the caller offers the job
// and works on it itself; a worker joins when it wakes up and claims pieces of work (the engine
// counts claimed and finished pieces), so the caller only ever waits for pieces a running
// thread has claimed. Training keeps OpenMP.
//
// Two offer slots alternate: a worker that joined image N late may still be looking at N's
// (finished) counters while image N+1 runs in the other slot; offering image N+2 in N's slot
// first waits for such stragglers to leave.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace trim {

class WorkerPool {
 public:
  using Job = void (*)(void* ctx, int tid);

  // Worker tids are 1..workers; the caller is tid 0. workers must be 0..kMaxThreads - 1
  // (threads.h); throws Error for a count outside that range or when the OS refuses a thread
  // (the threads already started are stopped and joined first).
  explicit WorkerPool(int workers);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }
  // Two steps per image, neither allocates: begin() closes the slot the next offer will use,
  // waits until no straggler is inside its previous offer and returns it (0 or 1), so the
  // caller can reset that slot's state; offer() then publishes job(ctx, tid) in it and returns
  // at once.
  int begin();
  void offer(Job job, void* ctx);

 private:
  void loop(int tid);
  void stop_and_join();

  struct Slot {
    std::atomic<uint64_t> gen{0};  // generation of the offer currently in this slot
    std::atomic<int> active{0};    // workers inside it
    Job job = nullptr;
    void* ctx = nullptr;
  };
  Slot slots_[2];
  int pending_ = 0;  // the slot begin() prepared
  std::atomic<uint64_t> gen_{0};  // latest offer; its slot is gen_ % 2
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
};

// Spin-wait hint for the busy loops of the pool and the engine.
inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Waits until done() holds: spins for up to ~0.2 ms, then also yields the core. Waits between
// the threads of one image are about a piece long (tens of microseconds); yielding at once
// sends a thread to the back of the run queue on a busy machine and it misses the next layers,
// while spinning for long burns the share of the CPU the other thread needs.
template <class Done>
void spin_until(Done done) {
  auto start = std::chrono::steady_clock::now();
  bool yielding = false;
  for (int spins = 0; !done(); ++spins) {
    if (yielding) {
      std::this_thread::yield();
    } else {
      cpu_relax();
      if ((spins & 255) == 255 && std::chrono::steady_clock::now() - start > std::chrono::microseconds(200)) yielding = true;
    }
  }
}

}  // namespace trim
