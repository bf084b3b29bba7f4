// model_spec.h - a model named on a command line: a .model file (with its .weights, dense or
// pruned) or one of the built-in names the benchmarks know. Shared by bench/latency and the peer
// benchmarks in bench/peers, so both run exactly the same layer shapes.
#pragma once

#include <string>

#include "framework/model.h"

namespace trim {

// "x.model": load_model (with its .weights). Anything else is a built-in model spec
// (models/zoo.h: "sicknet", "mobilenet_v1:alpha=0.5", or a short name such as
// "mobilenet_v1_1.0_224"), built with random weights from a fixed seed. Throws Error.
Model load_model_spec(const std::string& spec);

}  // namespace trim
