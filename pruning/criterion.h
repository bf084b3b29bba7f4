// criterion.h - how filters are ranked for pruning. A criterion gives one score per channel of a
// channel group; the lowest scores are removed first. Mean Weight (the default, ../shared/METHOD.md)
// and the baselines (l1, l2, random, bn_gamma, mean_signed) each live in one small file
// (criterion_<name>.cpp) and are listed once in the registry in criterion.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/model.h"
#include "pruning/dependency.h"

namespace trim {

// How the scores of a group's sources (several when their outputs meet in an add) become one
// score per channel: their mean (the default), sum or maximum. docs/pruning.md says why.
enum class GroupCombine { Mean, Sum, Max };
GroupCombine group_combine_from(const std::string& name);  // "mean", "sum", "max"; else Error
std::vector<std::string> group_combine_names();

class Criterion {
 public:
  virtual ~Criterion() = default;
  virtual std::string name() const = 0;
  // One score per channel of g (g.channels of them) for g's first source (g.source, g.bn);
  // lower is pruned first.
  virtual std::vector<double> scores(const Model& m, const ChannelGroup& g) const = 0;
  // One score per channel of the whole group: each source's scores, combined by `combine`. A
  // group with one source (every group of a chain) gets exactly scores().
  std::vector<double> group_scores(const Model& m, const ChannelGroup& g) const;
  GroupCombine combine = GroupCombine::Mean;
};

// By name; seed feeds the random criterion. Unknown name: Error listing the known ones.
std::unique_ptr<Criterion> make_criterion(const std::string& name, uint64_t seed = 1);
std::vector<std::string> criterion_names();

// The source layer's weights as g.channels filters of `size` consecutive floats each (a conv's
// [out, in/groups, k, k] or a linear's [out, in] rows): what the weight criteria read.
struct FilterWeights {
  const float* data = nullptr;
  int count = 0;
  int size = 0;
  const float* filter(int f) const { return data + static_cast<size_t>(f) * static_cast<size_t>(size); }
};
FilterWeights source_filters(const Model& m, const ChannelGroup& g);

// Indices of the n lowest scores (ties: lower index first), ascending by score.
std::vector<int> lowest_scores(const std::vector<double>& scores, int n);

// Factories, one per criterion file.
std::unique_ptr<Criterion> make_mean_weight_criterion();
std::unique_ptr<Criterion> make_l1_criterion();
std::unique_ptr<Criterion> make_l2_criterion();
std::unique_ptr<Criterion> make_random_criterion(uint64_t seed);
std::unique_ptr<Criterion> make_bn_gamma_criterion();
std::unique_ptr<Criterion> make_mean_signed_criterion();

}  // namespace trim
