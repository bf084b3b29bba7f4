// lower.h - lowering: every layer of an inference-ready model (passes.h already dropped dropout
// and folded batch norms) becomes one Step with its unpacked weights, in model order. Flatten of
// a 1 x 1 map and dropout become nothing.
#pragma once

#include <vector>

#include "framework/engine/step.h"
#include "framework/model.h"

namespace trim {
namespace engine_detail {

// Value 0 is the model input; step i writes a new value and reads the value of the last layer
// that made one (a chain model: the step before it). Throws Error for a layer type with no step.
std::vector<Step> lower(const Model& m);

}  // namespace engine_detail
}  // namespace trim
