// fuse.h - fusion: merging steps so that an intermediate map is never written out in full.
// A step only absorbs the one after it when that step reads its output and nothing else does
// (so on a graph a value several steps read, or the model's output, is never fused away).
#pragma once

#include <cstddef>
#include <vector>

#include "framework/engine/step.h"

namespace trim {
namespace engine_detail {

// ReLU / ReLU6 become the clamp of the step before them (clamps compose by intersecting); one with
// nothing to fuse into becomes an affine step with scale 1, shift 0. Before packing.
void fuse_activations(std::vector<Step>& steps);

// A depthwise step whose output is larger than min_bytes, with the pointwise step after it, into
// one DwPw step. After pack_weights (it takes over the pointwise step's packed weights).
void fuse_depthwise_pointwise(std::vector<Step>& steps, size_t min_bytes);

// A DwPw or standard conv whose output is larger than min_bytes, with the depthwise + pointwise
// pair that reads it, into one Chain step. After fuse_depthwise_pointwise.
void chain_steps(std::vector<Step>& steps, size_t min_bytes);

}  // namespace engine_detail
}  // namespace trim
