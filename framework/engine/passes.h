// passes.h - offline rewrites of a model for inference, each a named pass that returns an
// ordinary trim::Model (same layers and files as any other), in the spirit of ncnnoptimize.
// The inference engine runs them before it packs weights; they are also usable on their own
// (save the result with save_model and every tool loads it).
#pragma once

#include "framework/model.h"

namespace trim {

// Eval-mode dropout is the identity: remove every dropout layer.
Model drop_dropout(const Model& m);

// A batch norm (eval mode: a per-channel affine map with the running statistics) directly after
// a conv or linear layer is folded into that layer's weights and bias (the layer gains a bias
// if it had none): w' = w * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps).
// Batch norms after anything else are left in place.
Model fold_batchnorm(const Model& m);

// Both, in the order the engine uses.
Model optimize_for_inference(const Model& m);

}  // namespace trim
