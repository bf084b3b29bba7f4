// model_spec.h - a model named on a command line: a .model file (with its .weights, dense or
// pruned) or one of the built-in names the benchmarks know. Shared by bench/latency and the peer
// benchmarks in bench/peers, so both run exactly the same layer shapes.
#pragma once

#include <string>

#include "framework/model.h"

namespace trim {

// "x.model": load_model. Built-ins, with random weights from a fixed seed: "sicknet" (1x28x28,
// 10 classes), "sicknet_<C>x<H>x<W>", "mobilenet_v1_<alpha>_<resolution>" (3 channels, 1000
// classes), "dwpw_<C>_<R>" (4 depthwise + pointwise pairs, for channel sweeps). Throws Error.
Model load_model_spec(const std::string& spec);

}  // namespace trim
