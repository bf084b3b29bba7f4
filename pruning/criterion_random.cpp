// Random ranking: the control every criterion must beat. Scores are a pure function of the seed,
// the layer name and its channel count, so the scan and the pruning that follows it agree.
#include <random>

#include "pruning/criterion.h"

namespace trim {
namespace {
class Random : public Criterion {
 public:
  explicit Random(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "random"; }
  std::vector<double> scores(const Model& m, const ChannelGroup& g) const override {
    (void)m;
    // FNV-1a of the name: std::hash differs between standard libraries, the ranking must not.
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char ch : g.name) h = (h ^ ch) * 1099511628211ULL;
    std::mt19937_64 rng(seed_ ^ h ^ (static_cast<uint64_t>(g.channels) << 32));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> s(static_cast<size_t>(g.channels));
    for (auto& v : s) v = u(rng);
    return s;
  }

 private:
  uint64_t seed_;
};
}  // namespace
std::unique_ptr<Criterion> make_random_criterion(uint64_t seed) { return std::make_unique<Random>(seed); }
}  // namespace trim
