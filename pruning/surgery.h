// surgery.h - structured pruning as an offline rewrite: removes chosen channels of channel
// groups (dependency.h) with everything that depends on them and returns a new, dense, smaller
// model in the ordinary format (same layer names and order, fewer channels). The input model is
// not modified.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/model.h"
#include "pruning/dependency.h"

namespace trim {

// Group (source layer) name -> channel indices to remove. Groups not named keep every channel.
using ChannelRemoval = std::map<std::string, std::vector<int>>;

// Throws Error naming the layer when a name is not a prunable group, an index is out of range or
// repeated, or fewer than max(1, min_channels) channels would remain.
Model prune_channels(const Model& m, const ChannelRemoval& remove, int min_channels = 1);

// Same, with an analysis of m the caller already has (it must describe m).
Model prune_channels(const Model& m, const GroupAnalysis& a, const ChannelRemoval& remove, int min_channels = 1);

}  // namespace trim
