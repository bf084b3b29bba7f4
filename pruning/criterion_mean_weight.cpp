// Mean Weight (../shared/METHOD.md): the mean absolute weight of a filter,
// sum |W_f| / (C_in/groups * k * k). Ranks like L1 inside a layer; across layers it is independent
// of the fan-in, which matters when one threshold is compared across layers (global mode).
#include <cmath>

#include "pruning/criterion.h"

namespace trim {
namespace {
class MeanWeight : public Criterion {
 public:
  std::string name() const override { return "mean_weight"; }
  std::vector<double> scores(const Model& m, const ChannelGroup& g) const override {
    FilterWeights w = source_filters(m, g);
    std::vector<double> s(static_cast<size_t>(w.count));
    for (int f = 0; f < w.count; ++f) {
      double a = 0;
      for (int i = 0; i < w.size; ++i) a += std::fabs(w.filter(f)[i]);
      s[static_cast<size_t>(f)] = a / w.size;
    }
    return s;
  }
};
}  // namespace
std::unique_ptr<Criterion> make_mean_weight_criterion() { return std::make_unique<MeanWeight>(); }
}  // namespace trim
