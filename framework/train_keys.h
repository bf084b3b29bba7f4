// train_keys.h - the training settings a person can set, in one table: each key's config-file
// name ([finetune] weight_decay), command-line flag (--wd), help line, range, and how it maps
// into TrainOptions. tools/train declares its options from this table and tools/prune's config
// reads its [finetune] section through it, so both accept the same keys with the same ranges and
// fill TrainOptions the same way (schedule, warm-up, milestones, Nesterov, weight decay...).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "framework/trainer.h"

namespace trim {

struct TrainKey {
  std::string key, flag, help;
  // Parses `value` into t, or throws Error starting with `where`.
  std::function<void(TrainOptions& t, const std::string& value, const std::string& where)> set;
  std::function<std::string(const TrainOptions& t)> get;  // the current value, as it would be typed
  bool is_switch = false;  // on the command line a flag without a value (--decay-bn-bias)
};

const std::vector<TrainKey>& train_keys();

// The table as command-line options (--epochs, --lr, ... --wd, --decay-bn-bias), defaults shown
// from `defaults`; `help` replaces a key's help line (by flag), e.g. to explain a tool's default.
class CliOptions;
void declare_train_options(CliOptions& o, const TrainOptions& defaults,
                           const std::vector<std::pair<std::string, std::string>>& help = {});
// Sets in t every train option given on the command line ("option --flag" in errors), then
// validates the whole.
void apply_train_options(const CliOptions& o, TrainOptions& t);

// Checks what no single key can: warm-up shorter than the run, milestones inside it and rising.
// `where` names the source ("command line", "cfg.ini [finetune]").
void validate_train_options(const TrainOptions& t, const std::string& where);

}  // namespace trim
