// BN scale (network slimming, Liu et al. 2017): |gamma_f| of the batchnorm after the layer. A
// group without a batchnorm (a hidden linear layer) has no gamma; it falls back to Mean Weight,
// so the criterion still covers every prunable layer (reports name the fallback).
#include <cmath>

#include "pruning/criterion.h"

namespace trim {
namespace {
class BnGamma : public Criterion {
 public:
  std::string name() const override { return "bn_gamma"; }
  std::vector<double> scores(const Model& m, const ChannelGroup& g) const override {
    if (g.bn < 0) return make_mean_weight_criterion()->scores(m, g);
    const Layer& bn = *m.layers[static_cast<size_t>(g.bn)];
    const Tensor* gamma = bn.channel_scale();
    if (!gamma || static_cast<int>(gamma->numel()) != g.channels)
      throw Error("bn_gamma: layer '" + bn.name() + "' is not the batchnorm of '" + g.name + "'");
    std::vector<double> s(static_cast<size_t>(g.channels));
    for (int f = 0; f < g.channels; ++f) s[static_cast<size_t>(f)] = std::fabs((*gamma)[static_cast<size_t>(f)]);
    return s;
  }
};
}  // namespace
std::unique_ptr<Criterion> make_bn_gamma_criterion() { return std::make_unique<BnGamma>(); }
}  // namespace trim
