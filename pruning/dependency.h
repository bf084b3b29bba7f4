// dependency.h - which channels of a model can be removed, and what else goes with them.
//
// A channel group is the output channels of one conv or linear layer (the source) together with
// every tensor slice that exists only because of those channels: the BN after it, a depthwise conv
// that carries the channels through (and its BN), and the input slice of the layer that finally
// reads them (the consumer: a standard conv, or a linear, through a flatten when the consumer
// sees every spatial position of a channel as its own input). Removing channel f of a group
// removes all of it at once, so the model stays consistent.
//
// The analysis walks the model's layer list; it knows layer types, never model names. Outputs
// that reach the end of the model are class scores and are never a group.
#pragma once

#include <string>
#include <vector>

#include "framework/model.h"

namespace trim {

struct ChannelGroup {
  std::string name;            // the source layer's name (how configs and reports name it)
  int source = -1;             // index of the conv (groups == 1) or linear producing the channels
  int channels = 0;            // current number of channels
  std::vector<int> followers;  // BN and depthwise conv layers that lose channel f too
  int consumer = -1;           // index of the conv or linear that reads the channels
  int spatial = 1;             // consumer inputs per channel: H*W through flatten -> linear, else 1
  int bn = -1;                 // index of the first BN after the source (-1: none)
};

struct GroupAnalysis {
  std::vector<ChannelGroup> groups;  // in layer order
  std::vector<std::string> notes;    // why a conv/linear layer is not a group (one line each)
  const ChannelGroup* find(const std::string& name) const;
};

GroupAnalysis analyze_groups(const Model& m);

}  // namespace trim
