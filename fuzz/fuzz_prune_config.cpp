// fuzz_prune_config - the pruning run's cfg.ini. Whatever parses must print (config_to_ini, the
// config.ini a run writes beside its results for reproducibility) to a file that parses back to
// the same settings.
#include "fuzz/fuzz_target.h"
#include "pruning/prune_config.h"

TRIM_FUZZ_TARGET(prune_config) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  trim::PruneConfig c;
  if (!trim::fuzz::accepted([&] { c = trim::parse_prune_config(text, "cfg.ini"); })) return false;
  const std::string printed = trim::config_to_ini(c);
  trim::PruneConfig again;
  if (!trim::fuzz::accepted([&] { again = trim::parse_prune_config(printed, "config.ini"); }))
    trim::fuzz::invariant_failed("config_to_ini wrote a config parse_prune_config rejects");
  if (trim::config_to_ini(again) != printed) trim::fuzz::invariant_failed("config does not round-trip");
  for (int round = 1; round <= 3; ++round) c.threshold_for_round(round);
  return true;
}
