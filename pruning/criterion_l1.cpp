// L1 norm of a filter (Li et al. 2017): sum |W_f|. Grows with the fan-in, so across layers it
// favours pruning layers with few inputs per filter.
#include <cmath>

#include "pruning/criterion.h"

namespace trim {
namespace {
class L1 : public Criterion {
 public:
  std::string name() const override { return "l1"; }
  std::vector<double> scores(const Model& m, const ChannelGroup& g) const override {
    FilterWeights w = source_filters(m, g);
    std::vector<double> s(static_cast<size_t>(w.count));
    for (int f = 0; f < w.count; ++f) {
      double a = 0;
      for (int i = 0; i < w.size; ++i) a += std::fabs(w.filter(f)[i]);
      s[static_cast<size_t>(f)] = a;
    }
    return s;
  }
};
}  // namespace
std::unique_ptr<Criterion> make_l1_criterion() { return std::make_unique<L1>(); }
}  // namespace trim
