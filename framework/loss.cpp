// loss.cpp - softmax cross-entropy, averaged over the batch.
#include "framework/loss.h"

#include <cmath>

namespace trim {

// *correct, when given, is set to this batch's count of correct top-1 predictions (not added
// to), so a caller sums batches itself.
float softmax_cross_entropy(Tensor* dlogits, int* correct, const Tensor& logits,
                            const std::vector<int>& labels) {
  if (logits.rank() < 2 || logits.numel() == 0)
    throw Error("softmax_cross_entropy: logits must be N x K (x 1 x 1), got " + logits.shape().str());
  for (int d = 2; d < logits.rank(); ++d)
    if (logits.dim(d) != 1)
      throw Error("softmax_cross_entropy: logits must be N x K x 1 x 1, got " + logits.shape().str());
  const int n = logits.dim(0), k = logits.dim(1);
  if (static_cast<int>(labels.size()) != n)
    throw Error("softmax_cross_entropy: " + std::to_string(labels.size()) + " labels for logits " +
                logits.shape().str());
  for (int i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= k)
      throw Error("softmax_cross_entropy: label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) +
                  " is outside [0, " + std::to_string(k) + ")");
  if (dlogits) dlogits->resize(logits.shape());

  double total = 0.0;
  int hits = 0;
  const double inv_n = 1.0 / n;
  for (int i = 0; i < n; ++i) {
    const float* z = logits.data() + static_cast<size_t>(i) * k;
    int best = 0;
    for (int j = 1; j < k; ++j)
      if (z[j] > z[best]) best = j;
    hits += best == labels[i];
    // log-sum-exp shifted by the row max: exp never overflows and the largest term is 1.
    const double zmax = z[best];
    double sum = 0.0;
    for (int j = 0; j < k; ++j) sum += std::exp(static_cast<double>(z[j]) - zmax);
    const double lse = zmax + std::log(sum);
    total += lse - z[labels[i]];
    if (dlogits) {
      float* g = dlogits->data() + static_cast<size_t>(i) * k;
      for (int j = 0; j < k; ++j) {
        const double prob = std::exp(static_cast<double>(z[j]) - lse);
        g[j] = static_cast<float>((prob - (j == labels[i] ? 1.0 : 0.0)) * inv_n);
      }
    }
  }
  if (correct) *correct = hits;
  return static_cast<float>(total * inv_n);
}

}  // namespace trim
