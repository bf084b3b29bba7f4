// loss.h - softmax cross-entropy over N x K logits (any trailing 1x1 dims).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/tensor.h"

namespace trim {

// Returns the mean loss over the batch; writes dlogits = (softmax - onehot) / N when dlogits is
// not nullptr; counts correct top-1 predictions into *correct when not nullptr. Numerically
// stable (subtracts the row max). Labels out of [0, K) throw Error.
float softmax_cross_entropy(Tensor* dlogits, int* correct, const Tensor& logits,
                            const std::vector<int>& labels);

}  // namespace trim
