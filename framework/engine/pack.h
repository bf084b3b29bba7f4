// pack.h - packing: every step's weights and bias, once, into the layout its kernel streams
// (GEMM panels, tap-major depthwise taps), all in one 64-byte aligned arena.
#pragma once

#include <cstddef>
#include <vector>

#include "framework/engine/float_buffer.h"
#include "framework/engine/step.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace engine_detail {

// Sets every step's w_off / b_off into the returned arena and drops its unpacked weights.
// Throws Error, before allocating, if the arena would exceed max_bytes.
FloatBuffer pack_weights(std::vector<Step>& steps, const kernels::KernelTable& t, size_t max_bytes);

}  // namespace engine_detail
}  // namespace trim
