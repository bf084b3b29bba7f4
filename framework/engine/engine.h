// engine.h - the deploy path: a trim::Model turned into a fixed plan of kernel calls.
//
// Construction runs the passes (drop_dropout, fold_batchnorm), lowers every layer to a step,
// fuses ReLU/ReLU6 into the step before it (fuse_activations), packs every weight once into the
// layout its kernel streams (pack_weights), fuses depthwise layers with large outputs into the
// pointwise layer that reads them (fuse_depthwise_pointwise), chains such pairs so the large
// maps between them exist only a few rows at a time (chain_steps) and plans every buffer
// (plan_buffers). run() then
// allocates nothing: it converts the NCHW input to NHWC once, walks the steps on two ping-pong
// activation buffers, and writes the logits.
//
// Activations inside the engine are NHWC with the channel stride rounded up to the kernel
// table's channel_align (16 for AVX-512, 8 for AVX2, 4 for NEON), so every pixel starts on a
// vector boundary whatever the channel count (13, 27, ... cost one partial vector, never a
// slow path). Threads: `threads` per engine, the caller plus persistent workers that claim
// pieces of each layer (worker_pool.h says why not an OpenMP region per image); batch 1 is the
// case that matters (larger batches run image by image).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/kernels/kernels.h"
#include "framework/model.h"
#include "framework/tensor.h"

namespace trim {

struct EngineOptions {
  // 0: OpenMP's default (omp_get_max_threads()); else 1..kMaxThreads (threads.h, 1024). Anything
  // else is an Error, as is a worker thread the OS refuses to start.
  int threads = 0;
  // nullptr: the process-wide choice (kernels::kernels(), i.e. CPU detection or TRIM_ISA).
  // Tests set it to run the same model on every ISA; nothing else should.
  const kernels::KernelTable* isa = nullptr;
  bool profile = false;  // time every step (steps())
  // A depthwise layer whose output is larger than this is fused with the pointwise layer after
  // it (the output then never leaves the cache). Smaller maps stay in L2 on their own.
  size_t fuse_min_bytes = 512u << 10;
  // Also chain a fused pair (or a standard conv) whose output map is larger than fuse_min_bytes
  // with the depthwise + pointwise pair that reads it: the map then exists a few rows at a time.
  bool chain = true;
  // The most memory the plan may take (packed weights, the two activation buffers, per-thread
  // scratch times threads), checked in 64 bits before anything is allocated; a plan above it is
  // an Error naming the largest buffer and its size. 4 GiB is ~1000x MobileNet V1 1.0 at 224 px
  // (3.4 MiB of buffers): a model that needs more is almost certainly a mistake on the small CPUs
  // trim is for (a 1-channel 16384 x 16384 map padded to 16 channels is 16 GiB per buffer).
  // (The default also keeps every buffer below 2^30 floats.)
  size_t max_memory_bytes = size_t(4) << 30;
};

// One step of the plan, for reports.
struct EngineStep {
  std::string name;    // source layers, e.g. "pw3+pw3_bn+pw3_relu"
  std::string kind;    // "pointwise", "conv", "dwconv3x3", "fc", ...
  Shape out;           // C, H, W
  int64_t macs = 0;
  double seconds = 0;  // accumulated over runs when profiling
  double min_seconds = 0;  // fastest single run (robust to a busy machine)
  // CPU time of the timing thread (the caller) over the step, accumulated: it excludes the time
  // the OS ran other processes, so at one thread it is the step's cost even on a loaded machine.
  double cpu_seconds = 0;
  int runs = 0;
};

class InferenceEngine {
 public:
  explicit InferenceEngine(const Model& model, const EngineOptions& opt = {});
  ~InferenceEngine();
  InferenceEngine(const InferenceEngine&) = delete;
  InferenceEngine& operator=(const InferenceEngine&) = delete;

  // Not re-entrant: one engine runs one image at a time. A run() (either form) while another is
  // in progress on the same engine, from another thread, throws Error instead of corrupting
  // both; callers that run images concurrently use one engine per thread.
  //
  // x: N x C x H x W (or C x H x W for one image) matching the model's input. Returns N x K x
  // 1 x 1 logits; the tensor is owned by the engine and overwritten by the next run (it is
  // allocated for the largest batch seen so far: run a batch once to make later runs of that
  // size allocation-free).
  const Tensor& run(const Tensor& x);
  // One image: in holds C*H*W floats (NCHW), out receives the model's output (K floats).
  // Allocates nothing.
  void run(const float* in, float* out);

  const Shape& input_shape() const { return input_; }
  const Shape& output_shape() const { return output_; }
  int threads() const { return threads_; }
  const char* isa() const { return table_->isa; }
  int64_t macs() const;                // per image, of the optimized plan
  size_t weight_bytes() const;         // packed weights and biases
  size_t workspace_bytes() const;      // activation buffers and per-thread scratch
  const std::vector<EngineStep>& steps() const { return steps_; }
  void reset_profile();
  std::string summary() const;  // one line per step

  struct Impl;

 private:
  void run_image(const float* in, float* out);
  void record(size_t step, double seconds, double cpu_seconds);
  void work(const float* in, size_t w, int j, int tid);
  void work_loop(void* run_state, int tid);
  std::unique_ptr<Impl> impl_;
  const kernels::KernelTable* table_;
  int threads_ = 1;
  bool profile_ = false;
  Shape input_, output_;
  std::vector<EngineStep> steps_;
  Tensor out_;
};

}  // namespace trim
