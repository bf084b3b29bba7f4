// data_parallel.h - the trainer's side of synchronous data-parallel SGD: every process holds the
// whole model and its share of each global batch (BatchSource::share_of_last); the gradients of
// the shares are summed over processes before the optimizer step, so every process takes the
// same step and the weights stay identical everywhere.
//
// Single-process semantics: the loss is the mean over the GLOBAL batch, so each process scales
// its loss gradient by (its samples / global samples) and the sum over processes is exactly the
// gradient one process would compute for the whole batch (up to summation order). Batch norm uses
// each process's share for its statistics unless DataParallel::sync_bn; then the running
// averages are the same everywhere, otherwise they are averaged over processes at the end of
// every epoch (before validation and the checkpoint).
#pragma once

#include <cstddef>
#include <string>

#include "framework/batch_source.h"
#include "framework/communicator.h"
#include "framework/layer.h"
#include "framework/model.h"
#include "framework/train_step.h"

namespace trim {

// The trainer's hooks into its step (framework/train_step.h). dlogits is the trainer's loss
// gradient buffer, src its training batches; `inner` (not owned, may be null) is the caller's own
// hooks, called as well.
class GradientSum : public StepHooks {
 public:
  GradientSum(const DataParallel& p, Tensor& dlogits, const BatchSource& src, StepHooks* inner)
      : p_(p), dlogits_(dlogits), src_(src), inner_(inner) {}
  bool active() const { return p_.active(); }
  bool leader() const { return !p_.active() || p_.comm->leader(); }

  // Once before training: the processes must start from the same weights and read the same
  // number of batches per epoch (a different model or data file on one machine is an Error).
  void check_same_start(Model& m, size_t batches_per_epoch, const std::string& label);
  // Rank 0's bytes to every process (a resumed run's checkpoint).
  void broadcast(std::string& bytes);
  // Before the forward pass: tells the layers where this share sits in the global batch.
  void before_forward(Context& ctx) const;
  // After the loss: scales dlogits (the mean over this share) to this share's part of the mean
  // over the global batch.
  void before_backward(Model& m) override;
  // After backward, before the optimizer step: gradients summed over processes.
  void after_backward(Model& m) override;
  // End of an epoch: the epoch's loss sum, correct, sample and skipped counts summed over
  // processes; per-process batch-norm running statistics averaged; then a check that the
  // weights agree.
  void end_epoch(Model& m, double& loss_sum, size_t& correct, size_t& seen, size_t& skipped, const std::string& label);

  double sum_seconds() const { return sum_seconds_; }  // wall time inside sum_gradients
  size_t sums() const { return sums_; }

 private:
  void check_same_weights(Model& m, const std::string& label, const char* when);
  DataParallel p_;
  Tensor& dlogits_;
  const BatchSource& src_;
  StepHooks* inner_;
  double sum_seconds_ = 0;
  size_t sums_ = 0;
};

}  // namespace trim
