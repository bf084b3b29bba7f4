// The plain signed mean of a filter's weights: the literal reading of "mean weight". Filters
// whose weights are mostly negative score lowest and go first, whatever their magnitude.
#include "pruning/criterion.h"

namespace trim {
namespace {
class MeanSigned : public Criterion {
 public:
  std::string name() const override { return "mean_signed"; }
  std::vector<double> scores(const Model& m, const ChannelGroup& g) const override {
    FilterWeights w = source_filters(m, g);
    std::vector<double> s(static_cast<size_t>(w.count));
    for (int f = 0; f < w.count; ++f) {
      double a = 0;
      for (int i = 0; i < w.size; ++i) a += w.filter(f)[i];
      s[static_cast<size_t>(f)] = a / w.size;
    }
    return s;
  }
};
}  // namespace
std::unique_ptr<Criterion> make_mean_signed_criterion() { return std::make_unique<MeanSigned>(); }
}  // namespace trim
