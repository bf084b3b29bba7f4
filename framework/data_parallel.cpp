#include "framework/data_parallel.h"

#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "framework/model_file.h"

namespace trim {

namespace {

uint64_t weights_crc(const Model& m) {
  const std::string w = serialize_weights(m);
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t pos = 0; pos < w.size();) {
    const size_t chunk = std::min<size_t>(w.size() - pos, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(w.data() + pos), static_cast<uInt>(chunk));
    pos += chunk;
  }
  return (static_cast<uint64_t>(w.size()) << 32) ^ crc;
}

// Every process's value of v, in rank order.
std::vector<uint64_t> gather_u64(Communicator& c, uint64_t v, const char* what) {
  std::vector<uint64_t> all(static_cast<size_t>(c.size()));
  c.gather_all(&v, sizeof v, all.data(), what);
  return all;
}

}  // namespace

void GradientSum::check_same_weights(Model& m, const std::string& label, const char* when) {
  const std::vector<uint64_t> crc = gather_u64(*p_.comm, weights_crc(m), "weight check");
  for (size_t r = 1; r < crc.size(); ++r)
    if (crc[r] != crc[0])
      throw Error(label + ": the weights of rank " + std::to_string(r) + " differ from rank 0's " + when +
                  (when[0] == 'a' ? " (the processes diverged: a bug, please report it)"
                                  : " (each machine must load the same model file)"));
}

void GradientSum::check_same_start(Model& m, size_t batches_per_epoch, const std::string& label) {
  if (!active()) return;
  const std::vector<uint64_t> nb = gather_u64(*p_.comm, batches_per_epoch, "batch count check");
  for (size_t r = 1; r < nb.size(); ++r)
    if (nb[r] != nb[0])
      throw Error(label + ": rank " + std::to_string(r) + " has " + std::to_string(nb[r]) +
                  " training batches per epoch, rank 0 has " + std::to_string(nb[0]) +
                  " (each machine must read the same data set)");
  check_same_weights(m, label, "before training");
}

void GradientSum::broadcast(std::string& bytes) {
  if (!active()) return;
  uint64_t n = bytes.size();
  p_.comm->broadcast(&n, sizeof n, 0, "checkpoint size");
  bytes.resize(n);
  if (n) p_.comm->broadcast(&bytes[0], n, 0, "checkpoint");
}

void GradientSum::before_forward(Context& ctx) const {
  if (!active()) return;
  src_.share_of_last(ctx.batch_offset, ctx.global_batch);
  ctx.bn_sync = p_.sync_bn ? p_.comm : nullptr;
}

void GradientSum::before_backward(Model& m) {
  if (inner_) inner_->before_backward(m);
  if (!active()) return;
  size_t offset, global;
  src_.share_of_last(offset, global);
  const size_t n = static_cast<size_t>(dlogits_.dim(0));
  if (global == 0) throw Error("data-parallel training needs a batch source that shares its batches");
  if (global == n) return;
  // In float, as the loss divides by the batch: (p - y) / n * (n / global).
  const float s = static_cast<float>(static_cast<double>(n) / static_cast<double>(global));
  float* g = dlogits_.data();
  for (size_t i = 0, e = dlogits_.numel(); i < e; ++i) g[i] *= s;
}

void GradientSum::after_backward(Model& m) {
  if (active()) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor& g = m.grad_block();
    p_.comm->sum(g.data(), g.numel(), "gradient sum");
    sum_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++sums_;
  }
  if (inner_) inner_->after_backward(m);
}

void GradientSum::end_epoch(Model& m, double& loss_sum, size_t& correct, size_t& seen, size_t& skipped,
                            const std::string& label) {
  if (!active()) return;
  double totals[4] = {loss_sum, static_cast<double>(correct), static_cast<double>(seen), static_cast<double>(skipped)};
  p_.comm->sum(totals, 4, "epoch statistics");
  loss_sum = totals[0];
  correct = static_cast<size_t>(totals[1]);
  seen = static_cast<size_t>(totals[2]);
  skipped = static_cast<size_t>(totals[3]);
  if (!p_.sync_bn) {
    // Buffers (batch-norm running statistics) follow each process's own shares: average them.
    std::vector<Tensor*> bufs;
    size_t n = 0;
    for (const NamedParam& p : m.params())
      if (!p.grad) {
        bufs.push_back(p.value);
        n += p.value->numel();
      }
    std::vector<double> v;
    v.reserve(n);
    for (Tensor* t : bufs) v.insert(v.end(), t->data(), t->data() + t->numel());
    p_.comm->sum(v.data(), v.size(), "batch-norm running statistics");
    const double inv = 1.0 / p_.comm->size();
    size_t k = 0;
    for (Tensor* t : bufs)
      for (size_t i = 0; i < t->numel(); ++i) (*t)[i] = static_cast<float>(v[k++] * inv);
  }
  check_same_weights(m, label, "after an epoch");
}

}  // namespace trim
