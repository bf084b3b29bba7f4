// ops.h - the ops: one piece of one step as kernel calls (the kernel table's, or conv2d_nhwc's).
// Plain pointers in, nothing allocated, no state: the run loop (engine.cpp) decides who runs
// which piece on which buffers.
#pragma once

#include "framework/engine/step.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace engine_detail {

// Piece idx of a range of `total` split into `parts` pieces aligned to `granule`: [b, e).
void split_range(int total, int parts, int granule, int idx, int& b, int& e);

// Runs piece `task` of `tasks` of step s (plan_tasks' count) from `in` (s's input value) into
// `out` (its output value). weights: the packed arena; scratch: this thread's scratch
// (BufferPlan::scratch_per_thread floats).
void exec(const Step& s, const kernels::KernelTable& t, const float* weights, float* scratch, const float* in,
          float* out, int task, int tasks);

}  // namespace engine_detail
}  // namespace trim
