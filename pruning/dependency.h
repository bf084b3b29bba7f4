// dependency.h - which channels of a model can be removed, and what else goes with them.
//
// A channel group is a set of channels that must be removed together. It starts as the output
// channels of one conv or linear layer (a source: Layer::channel_role() == Source) and follows
// them through the graph: per-channel layers (BN, depthwise conv: followers) carry them, ReLU,
// pools and dropout pass them on, flatten turns each channel into H*W consecutive features, and
// every standard conv or linear that reads them (a consumer) loses the matching input slice.
// An add makes its inputs one channel set, so the sources whose outputs meet in an add are one
// group (union-find); a concat maps ranges of its output channels to the groups of its inputs.
// Removing channel f of a group removes it from every source, follower and consumer at once, so
// the model stays consistent.
//
// The analysis reads each layer's channel role, never its type or the model's name. Channels that
// reach the model's output (class scores), a grouped (not depthwise) conv or a batchnorm after a
// flatten are never a group.
#pragma once

#include <string>
#include <vector>

#include "framework/model.h"

namespace trim {

struct ChannelGroup {
  std::string name;            // the first source's name (how configs and reports name the group)
  int source = -1;             // index of the first source (a chain's group has exactly one)
  std::vector<int> sources;    // every conv/linear producing these channels (several: they meet in an add)
  std::vector<int> source_bns; // per source, the batchnorm that scales its output (-1: none)
  int channels = 0;            // current number of channels
  std::vector<int> followers;  // BN and depthwise conv layers that lose channel f too, in layer order
  std::vector<int> consumers;  // standard convs and linears whose input slice goes, in layer order
  int consumer = -1;           // the first of them
  int spatial = 1;             // the first consumer's inputs per channel: H*W through flatten, else 1
  int bn = -1;                 // the first source's batchnorm (-1: none)
  // "c2 + proj (followers c2_bn, proj_bn; consumers fc)": the members, for reports.
  std::string describe(const Model& m) const;
};

// A run of channels on some layer's channel axis: `channels` channels of group `group` (an index
// into GroupAnalysis::groups; -1: channels that are not prunable), each `spatial` consecutive
// features wide (1 before a flatten).
struct ChannelSegment {
  int group = -1;
  int channels = 0;
  int spatial = 1;
};

struct GroupAnalysis {
  std::vector<ChannelGroup> groups;  // in the order of their first source
  std::vector<std::string> notes;    // why a conv/linear layer is not a group (one line each)
  // Per layer: its output channel axis as segments (what surgery keeps rows of), and for sources
  // the channel axis of the tensor they read (what surgery keeps input columns of).
  std::vector<std::vector<ChannelSegment>> out_segments, in_segments;
  const ChannelGroup* find(const std::string& name) const;
};

GroupAnalysis analyze_groups(const Model& m);

}  // namespace trim
