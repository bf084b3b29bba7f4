// worker_pool.cpp - WorkerPool: offer / join protocol (see worker_pool.h).
#include "framework/engine/worker_pool.h"

#include <string>
#include <system_error>

#include "framework/tensor.h"
#include "framework/threads.h"

namespace trim {

namespace {
// Spins a worker makes before it sleeps: a few tens of microseconds, so back-to-back images
// find it awake, while an idle engine costs no CPU.
constexpr int kSpins = 20000;
}  // namespace

WorkerPool::WorkerPool(int workers) {
  if (workers < 0 || workers >= kMaxThreads)
    throw Error("worker pool: " + std::to_string(workers) + " workers is out of range (0.." +
                std::to_string(kMaxThreads - 1) + ")");
  threads_.reserve(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i) {
    try {
      threads_.emplace_back([this, i] { loop(i + 1); });
    } catch (const std::system_error& e) {
      // The OS refused a thread (too many processes, no memory for a stack). The threads that
      // did start must be stopped and joined here: a joinable std::thread destroyed by the
      // unwinding would end the process in std::terminate.
      stop_and_join();
      throw Error("worker pool: could not start worker thread " + std::to_string(i + 1) + " of " +
                  std::to_string(workers) + ": " + e.what());
    }
  }
}

WorkerPool::~WorkerPool() { stop_and_join(); }

void WorkerPool::stop_and_join() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

int WorkerPool::begin() {
  const uint64_t g = gen_.load() + 1;
  pending_ = static_cast<int>(g & 1);
  Slot& s = slots_[pending_];
  // Close the slot first, then wait for the workers inside: a worker counts itself in and then
  // checks the slot's generation (both seq_cst), so either it sees the slot closed and leaves,
  // or this wait sees it and lets it finish (it only finds finished counters).
  s.gen.store(0);
  spin_until([&] { return s.active.load() == 0; });
  return pending_;
}

void WorkerPool::offer(Job job, void* ctx) {
  Slot& s = slots_[pending_];
  s.job = job;
  s.ctx = ctx;
  const uint64_t g = gen_.load() + 1;
  s.gen.store(g);
  gen_.store(g);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
}

void WorkerPool::loop(int tid) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = gen_.load(std::memory_order_acquire);
    for (int spins = 0; g == seen && !stop_.load(std::memory_order_relaxed); ++spins) {
      if (spins < kSpins) {
        cpu_relax();
      } else {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [&] { return gen_.load() != seen || stop_.load(); });
        sleepers_.fetch_sub(1);
        spins = 0;
      }
      g = gen_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    seen = g;
    Slot& s = slots_[g & 1];
    s.active.fetch_add(1);
    // The offer may have been replaced since we read gen_: only run the one we counted into.
    if (s.gen.load() == g) s.job(s.ctx, tid);
    s.active.fetch_sub(1);
  }
}

}  // namespace trim
