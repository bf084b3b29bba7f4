#include "datasets/batcher.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "framework/communicator.h"

namespace trim {

namespace {
// A sample's augmentation stream depends only on (seed, epoch, position in the epoch).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

// Loader threads claim whole batches in order; finished batches wait in slots until the trainer
// takes them in order, so the result is the same whatever the thread count. At most `prefetch`
// batches exist beyond the one the trainer holds.
struct Batcher::Impl {
  struct Slot {
    size_t batch = 0;
    Tensor images;
    std::vector<int> labels;
    size_t skipped = 0;
    bool ready = false;
  };
  std::vector<size_t> order;
  int epoch = 0;
  size_t next_to_claim = 0, next_to_return = 0, nbatches = 0;
  std::deque<Slot> done;      // claimed or finished, ordered by batch
  std::vector<Slot> free_slots;
  std::mutex mu;
  std::condition_variable cv_work, cv_done;
  std::vector<std::thread> threads;
  bool stop = false;
  size_t skipped = 0;
  std::exception_ptr error;
};

Batcher::Batcher(std::shared_ptr<const Dataset> data, const BatcherOptions& opt)
    : data_(std::move(data)), opt_(opt), impl_(new Impl) {
  if (opt_.batch_size <= 0) throw Error("batch size must be positive, got " + std::to_string(opt_.batch_size));
  if (data_->size() == 0) throw Error("data set is empty: " + data_->describe());
  if (opt_.shards < 1 || opt_.shard < 0 || opt_.shard >= opt_.shards)
    throw Error("batcher: shard " + std::to_string(opt_.shard) + " of " + std::to_string(opt_.shards) + " is out of range");
  if (opt_.nonempty_shares && opt_.batch_size < opt_.shards)
    throw Error("batch size " + std::to_string(opt_.batch_size) + " is smaller than the " + std::to_string(opt_.shards) +
                " processes sharing it: every process needs at least one sample");
  opt_.prefetch = std::max(1, opt_.prefetch);
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv_work.notify_all();
  for (auto& t : impl_->threads) t.join();
}

size_t Batcher::batches_per_epoch() const {
  size_t n = data_->size(), b = static_cast<size_t>(opt_.batch_size);
  const size_t last = n % b;
  const bool unshareable_last = opt_.nonempty_shares && last != 0 && last < static_cast<size_t>(opt_.shards);
  if (opt_.drop_last || unshareable_last) return n / b;
  return (n + b - 1) / b;
}

size_t Batcher::skipped_samples() const { return impl_->skipped; }

void Batcher::share_of_last(size_t& offset, size_t& global) const {
  offset = global = 0;
  if (opt_.shards <= 1 || impl_->next_to_return == 0) return;
  const size_t b = static_cast<size_t>(opt_.batch_size), begin = (impl_->next_to_return - 1) * b;
  global = std::min(impl_->order.size(), begin + b) - begin;
  size_t end;
  batch_share(global, opt_.shard, opt_.shards, offset, end);
}

static void fill_batch(const Dataset& data, const BatcherOptions& opt, const std::vector<size_t>& order,
                       int epoch, size_t batch, Tensor& images, std::vector<int>& labels, size_t& skipped) {
  size_t b = static_cast<size_t>(opt.batch_size);
  size_t begin = batch * b, end = std::min(order.size(), begin + b);
  if (opt.shards > 1) {
    size_t from, to;
    batch_share(end - begin, opt.shard, opt.shards, from, to);
    end = begin + to;
    begin += from;
  }
  Shape s = data.sample_shape();
  size_t per = s.numel();
  images.resize(Shape{static_cast<int>(end - begin), s[0], s[1], s[2]});
  labels.resize(end - begin);
  for (size_t i = begin; i < end; ++i) {
    std::mt19937_64 rng(mix(opt.seed * 0x100000001b3ULL + mix(static_cast<uint64_t>(epoch) * 1000003ULL + i)));
    float* out = images.data() + (i - begin) * per;
    if (!data.load(order[i], out, opt.augment, rng)) {
      std::memset(out, 0, per * sizeof(float));
      ++skipped;
    }
    labels[i - begin] = data.label(order[i]);
  }
}

void Batcher::start_epoch(int epoch) {
  // Stop the previous epoch's workers before touching shared state.
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv_work.notify_all();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  Impl& I = *impl_;
  for (auto& s : I.done) I.free_slots.push_back(std::move(s));
  I.done.clear();
  I.stop = false;
  I.error = nullptr;
  I.epoch = epoch;
  I.skipped = 0;
  I.order.resize(data_->size());
  for (size_t i = 0; i < I.order.size(); ++i) I.order[i] = i;
  if (opt_.shuffle) {
    std::mt19937_64 rng(mix(opt_.seed) ^ mix(static_cast<uint64_t>(epoch) + 17));
    for (size_t i = I.order.size(); i > 1; --i) std::swap(I.order[i - 1], I.order[rng() % i]);
  }
  I.nbatches = batches_per_epoch();
  if (opt_.drop_last) I.order.resize(I.nbatches * static_cast<size_t>(opt_.batch_size));
  I.next_to_claim = I.next_to_return = 0;
  for (int w = 0; w < opt_.workers; ++w) {
    I.threads.emplace_back([this] {
      Impl& J = *impl_;
      for (;;) {
        Impl::Slot slot;
        {
          std::unique_lock<std::mutex> lk(J.mu);
          J.cv_work.wait(lk, [&] {
            return J.stop || (J.next_to_claim < J.nbatches &&
                              J.next_to_claim < J.next_to_return + static_cast<size_t>(opt_.prefetch));
          });
          if (J.stop) return;
          if (!J.free_slots.empty()) {
            slot = std::move(J.free_slots.back());
            J.free_slots.pop_back();
          }
          slot.batch = J.next_to_claim++;
          slot.ready = false;
        }
        size_t skipped = 0;
        std::exception_ptr err;
        try {
          fill_batch(*data_, opt_, J.order, J.epoch, slot.batch, slot.images, slot.labels, skipped);
        } catch (...) {
          err = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> lk(J.mu);
          slot.skipped = skipped;
          slot.ready = true;
          if (err && !J.error) J.error = err;
          auto it = std::find_if(J.done.begin(), J.done.end(), [&](const Impl::Slot& s) { return s.batch > slot.batch; });
          J.done.insert(it, std::move(slot));
        }
        J.cv_done.notify_all();
      }
    });
  }
}

void Batcher::skip(size_t batches) {
  Tensor images;
  std::vector<int> labels;
  // The skipped batches are decoded by the loaders and dropped (slow, but simple): the
  // augmentation streams of the following batches stay exactly as an uninterrupted run's. The
  // trainer never calls this (resume restarts at an epoch boundary); test_batcher checks it.
  for (size_t i = 0; i < batches && next(images, labels);) ++i;
}

bool Batcher::next(Tensor& images, std::vector<int>& labels) {
  Impl& I = *impl_;
  if (I.next_to_return >= I.nbatches) return false;
  if (opt_.workers <= 0) {
    size_t skipped = 0;
    fill_batch(*data_, opt_, I.order, I.epoch, I.next_to_return, images, labels, skipped);
    I.skipped += skipped;
    ++I.next_to_return;
    return true;
  }
  std::unique_lock<std::mutex> lk(I.mu);
  I.cv_done.wait(lk, [&] {
    return I.error || (!I.done.empty() && I.done.front().batch == I.next_to_return && I.done.front().ready);
  });
  if (I.error) std::rethrow_exception(I.error);
  Impl::Slot slot = std::move(I.done.front());
  I.done.pop_front();
  ++I.next_to_return;
  I.skipped += slot.skipped;
  // Hand the caller's old buffers back to the pool so steady state allocates nothing.
  std::swap(images, slot.images);
  std::swap(labels, slot.labels);
  I.free_slots.push_back(std::move(slot));
  lk.unlock();
  I.cv_work.notify_all();
  return true;
}

}  // namespace trim
