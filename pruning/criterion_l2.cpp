// L2 norm of a filter: sqrt(sum W_f^2).
#include <cmath>

#include "pruning/criterion.h"

namespace trim {
namespace {
class L2 : public Criterion {
 public:
  std::string name() const override { return "l2"; }
  std::vector<double> scores(const Model& m, const ChannelGroup& g) const override {
    FilterWeights w = source_filters(m, g);
    std::vector<double> s(static_cast<size_t>(w.count));
    for (int f = 0; f < w.count; ++f) {
      double a = 0;
      for (int i = 0; i < w.size; ++i) a += static_cast<double>(w.filter(f)[i]) * w.filter(f)[i];
      s[static_cast<size_t>(f)] = std::sqrt(a);
    }
    return s;
  }
};
}  // namespace
std::unique_ptr<Criterion> make_l2_criterion() { return std::make_unique<L2>(); }
}  // namespace trim
