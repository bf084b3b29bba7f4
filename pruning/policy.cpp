#include "pruning/policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace trim {

void RatioLimits::validate() const {
  if (!(max_ratio > 0 && max_ratio < 1))
    throw Error("max_ratio must be in (0, 1), got " + std::to_string(max_ratio));
  if (min_channels < 1) throw Error("min_channels must be at least 1, got " + std::to_string(min_channels));
  if (round_to < 1) throw Error("round_to must be at least 1, got " + std::to_string(round_to));
}

int kept_channels(int channels, double ratio, const RatioLimits& lim, std::string* why) {
  std::vector<std::string> rules;
  double r = std::max(0.0, ratio);
  if (r > lim.max_ratio) {
    r = lim.max_ratio;
    rules.push_back("capped by max_ratio");
  }
  int keep = channels - channels_for_ratio(channels, r);
  const int floor_ = std::min(channels, lim.min_channels);
  if (keep < floor_) {
    keep = floor_;
    rules.push_back("capped by min_channels");
  }
  if (lim.round_to > 1 && keep < channels) {
    const int up = std::min(channels, (keep + lim.round_to - 1) / lim.round_to * lim.round_to);
    const int down = keep / lim.round_to * lim.round_to;
    // Nearest (ties go up), but never below min_channels or to zero.
    const bool go_down = lim.round_nearest && down >= std::max(floor_, 1) && keep - down < up - keep;
    const int rounded = go_down ? down : up;
    if (rounded != keep)
      rules.push_back(std::string(go_down ? "rounded down" : "rounded up") +
                      " to a multiple of " + std::to_string(lim.round_to));
    keep = rounded;
  }
  if (why) {
    why->clear();
    for (const auto& x : rules) *why += (why->empty() ? "" : ", ") + x;
  }
  return keep;
}

namespace {
std::string join_rule(const std::string& base, const std::string& limits) {
  return limits.empty() ? base : base + "; " + limits;
}
}  // namespace

std::vector<LayerChoice> choose_t_sensitive(const ScanResult& scan, double T, const RatioLimits& lim) {
  std::vector<LayerChoice> out;
  for (const auto& c : scan.layers) {
    LayerChoice ch;
    ch.layer = c.layer;
    ch.criterion = scan.criterion;
    ch.channels_before = c.channels;
    double best = 0;
    for (size_t k = 0; k < c.ratios.size(); ++k)
      if (c.removed[k] >= 0 && c.drop[k] <= T) best = std::max(best, c.ratios[k]);
    ch.requested = best;
    std::string why;
    ch.channels_after = kept_channels(c.channels, best, lim, &why);
    ch.why = best > 0 ? join_rule("largest ratio with drop <= T", why) : "no ratio within T";
    out.push_back(ch);
  }
  return out;
}

std::vector<LayerChoice> choose_uniform(const GroupAnalysis& a, double ratio, const RatioLimits& lim) {
  std::vector<LayerChoice> out;
  for (const auto& g : a.groups) {
    LayerChoice ch;
    ch.layer = g.name;
    ch.channels_before = g.channels;
    ch.requested = ratio;
    std::string why;
    ch.channels_after = kept_channels(g.channels, ratio, lim, &why);
    ch.why = join_rule("uniform ratio", why);
    out.push_back(ch);
  }
  return out;
}

std::string criterion_label(const Criterion& crit, const ChannelGroup& g) {
  if (crit.name() == "bn_gamma" && g.bn < 0) return "mean_weight (no BN)";
  return crit.name();
}

std::vector<LayerChoice> choose_global(const Model& m, const GroupAnalysis& a, const Criterion& crit,
                                       double fraction, const RatioLimits& lim) {
  if (!(fraction >= 0 && fraction < 1)) throw Error("global fraction must be in [0, 1), got " + std::to_string(fraction));
  std::vector<std::vector<double>> scores;
  std::vector<double> all;
  for (const auto& g : a.groups) {
    scores.push_back(crit.group_scores(m, g));
    all.insert(all.end(), scores.back().begin(), scores.back().end());
  }
  std::sort(all.begin(), all.end());
  const size_t n = static_cast<size_t>(std::floor(fraction * static_cast<double>(all.size())));
  // Channels strictly below the threshold go; the threshold is the n-th smallest score.
  const double threshold = n == 0 ? -INFINITY : (n >= all.size() ? INFINITY : all[n]);
  std::vector<LayerChoice> out;
  for (size_t i = 0; i < a.groups.size(); ++i) {
    const auto& g = a.groups[i];
    int below = 0;
    for (double s : scores[i]) below += s < threshold;
    LayerChoice ch;
    ch.layer = g.name;
    ch.criterion = criterion_label(crit, g);
    ch.channels_before = g.channels;
    ch.requested = static_cast<double>(below) / g.channels;
    std::string why;
    ch.channels_after = kept_channels(g.channels, ch.requested, lim, &why);
    char th[64];
    std::snprintf(th, sizeof th, "score below the global threshold %.4g", threshold);
    ch.why = join_rule(th, why);
    out.push_back(ch);
  }
  return out;
}

ChannelRemoval removal_for(const Model& m, const GroupAnalysis& a, const Criterion& crit,
                           const std::vector<LayerChoice>& choices) {
  ChannelRemoval rm;
  for (const auto& ch : choices) {
    const ChannelGroup* g = a.find(ch.layer);
    if (!g) throw Error("pruning choice names '" + ch.layer + "', which is not a prunable layer of this model");
    const int n = g->channels - ch.channels_after;
    if (n <= 0) continue;
    rm[ch.layer] = lowest_scores(crit.group_scores(m, *g), n);
  }
  return rm;
}

int64_t macs_after(const Model& m, const GroupAnalysis& a, const std::vector<LayerChoice>& choices) {
  // Which channels go does not change the cost, only how many: remove the last ones.
  ChannelRemoval rm;
  for (const auto& ch : choices) {
    std::vector<int> v;
    for (int f = ch.channels_after; f < ch.channels_before; ++f) v.push_back(f);
    if (!v.empty()) rm[ch.layer] = v;
  }
  return prune_channels(m, a, rm, 1).macs();
}

namespace {

// Smallest x in [0, hi] with cost(x) <= target, cost non-increasing in x (bisection).
template <class F>
double smallest_meeting(F cost, double hi, int64_t target) {
  if (cost(0.0) <= target) return 0.0;
  if (cost(hi) > target) return hi;
  double lo = 0.0;
  for (int it = 0; it < 30; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (cost(mid) <= target)
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}

}  // namespace

std::vector<LayerChoice> uniform_for_macs(const Model& m, const GroupAnalysis& a, int64_t target_macs,
                                          const RatioLimits& lim) {
  auto cost = [&](double r) { return macs_after(m, a, choose_uniform(a, r, lim)); };
  const double r = smallest_meeting(cost, lim.max_ratio, target_macs);
  return choose_uniform(a, r, lim);
}

std::vector<LayerChoice> global_for_macs(const Model& m, const GroupAnalysis& a, const Criterion& crit,
                                         int64_t target_macs, const RatioLimits& lim) {
  auto cost = [&](double f) { return macs_after(m, a, choose_global(m, a, crit, f, lim)); };
  const double f = smallest_meeting(cost, 0.999, target_macs);
  return choose_global(m, a, crit, f, lim);
}

}  // namespace trim
