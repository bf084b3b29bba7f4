// policy.h - how many channels each layer keeps: T-sensitive (the largest scanned ratio whose
// accuracy drop stays within T), and the two baselines, one uniform ratio for every layer and one
// global threshold on the criterion across layers. All share the same limits (max_ratio,
// min_channels, round_to) and end in the same ChannelRemoval for surgery.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/model.h"
#include "pruning/criterion.h"
#include "pruning/dependency.h"
#include "pruning/sensitivity.h"
#include "pruning/surgery.h"

namespace trim {

struct RatioLimits {
  double max_ratio = 0.9;  // never remove more than this fraction of a layer
  int min_channels = 8;    // never keep fewer (a layer that has fewer is left alone)
  int round_to = 1;        // kept counts rounded to a multiple (SIMD lanes full)
  // Up never prunes more than the scan allowed; nearest lets a small layer move at all (with
  // round_to 8, a 32-channel layer whose scan allows 20% stays at 32 when rounding up, 24 when
  // rounding to nearest: the achieved ratio may then pass the measured one by < round_to/2).
  bool round_nearest = false;
  void validate() const;
};

struct LayerChoice {
  std::string layer;
  std::string criterion;  // the ranking actually used (bn_gamma names its fallback)
  int channels_before = 0;
  double requested = 0;  // the ratio the policy asked for, before caps and rounding
  int channels_after = 0;
  std::string why;       // one phrase: which rule set the count
  std::string members;   // a group of several sources: all its members (ChannelGroup::describe)
  double achieved() const {
    return channels_before ? 1.0 - static_cast<double>(channels_after) / channels_before : 0.0;
  }
};

// Channels kept when `ratio` is requested, after max_ratio, min_channels and round_to; `why`
// (optional) gets the rule that decided.
int kept_channels(int channels, double ratio, const RatioLimits& lim, std::string* why = nullptr);

// T-sensitive: per layer the largest scanned ratio whose drop <= T points (not the first ratio
// that breaks T; 0 when none passes), then the limits.
std::vector<LayerChoice> choose_t_sensitive(const ScanResult& scan, double T, const RatioLimits& lim);

// Uniform: the same ratio for every layer, then the limits.
std::vector<LayerChoice> choose_uniform(const GroupAnalysis& a, double ratio, const RatioLimits& lim);

// Global: every channel whose score is below the `fraction` quantile of all scores of all layers
// is removed (one threshold across layers), then the limits per layer.
std::vector<LayerChoice> choose_global(const Model& m, const GroupAnalysis& a, const Criterion& crit,
                                       double fraction, const RatioLimits& lim);

// The lowest-ranked channels of each layer, as many as its choice removes.
ChannelRemoval removal_for(const Model& m, const GroupAnalysis& a, const Criterion& crit,
                           const std::vector<LayerChoice>& choices);

// MACs of the model the choices would produce.
int64_t macs_after(const Model& m, const GroupAnalysis& a, const std::vector<LayerChoice>& choices);

// The baselines at a given cost: the smallest uniform ratio, or global fraction, whose pruned
// model has at most target_macs MACs (the most the limits allow when none reaches it).
std::vector<LayerChoice> uniform_for_macs(const Model& m, const GroupAnalysis& a, int64_t target_macs,
                                          const RatioLimits& lim);
std::vector<LayerChoice> global_for_macs(const Model& m, const GroupAnalysis& a, const Criterion& crit,
                                         int64_t target_macs, const RatioLimits& lim);

// Label for the criterion of one layer ("bn_gamma" or "mean_weight (no BN)").
std::string criterion_label(const Criterion& crit, const ChannelGroup& g);

}  // namespace trim
