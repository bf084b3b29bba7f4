// plan.h - planning: channel strides, activation buffers, per-thread scratch and the pieces
// threads claim, all fixed before the first run so run() allocates nothing.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "framework/engine/step.h"
#include "framework/kernels/kernels.h"
#include "framework/tensor.h"

namespace trim {
namespace engine_detail {

// Throws Error if `bytes` (of `what`) pass `max_bytes` (EngineOptions::max_memory_bytes).
void check_memory(size_t bytes, size_t max_bytes, const std::string& what);
std::string mib(size_t bytes);  // "12.3 MiB"

// out_cs of every step: whole vectors of the table per pixel (kernels::activation_channel_stride);
// a flatten's output is a plain vector. Before fusion, which sizes maps with it.
void assign_channel_strides(std::vector<Step>& steps, const kernels::KernelTable& t);

struct BufferPlan {
  size_t in_cs = 0;   // channel stride of value 0, the converted input
  int input_buf = 0;  // the buffer value 0 is converted into
  int output_buf = 0; // the buffer holding the model's output after the last step
  std::vector<size_t> buffer_floats;  // one entry per activation buffer
  size_t scratch_per_thread = 0;      // floats, a multiple of 16
};

// Values to buffers by lifetime: a value lives from the step that writes it to the last step that
// reads it (the model's output to the end), and a step writes the lowest-numbered buffer that no
// live value holds; its inputs are live while it runs, so it never writes a buffer it reads. A
// chain thus alternates buffers 0 and 1 exactly as a ping-pong would. Every buffer is as large
// as the largest value, as the ping-pong buffers were (sizing each for its own values is a
// possible saving, not made here, so chains keep today's buffers). Sets in_cs, in_buf, out_buf
// and the chains' scratch layout; throws Error, before anything is allocated, if weights + buffers
// + scratch x threads pass max_bytes, naming the largest buffer or scratch user.
BufferPlan plan_buffers(std::vector<Step>& steps, const kernels::KernelTable& t, const Shape& input, int threads,
                        size_t weight_floats, size_t max_bytes);

// Pointwise steps: whether threads split the weight panels (split_n) or the pixel rows.
void plan_splits(std::vector<Step>& steps, const kernels::KernelTable& t, int threads);

// The pieces a step is cut into for the threads to claim (after plan_splits).
int plan_tasks(const Step& s, const kernels::KernelTable& t, int threads);

}  // namespace engine_detail
}  // namespace trim
