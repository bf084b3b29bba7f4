// prune - structured pruning of a trained model: Mean Weight ranking, T-sensitive layer-wise
// ratios (or the uniform / global baselines), surgery, fine-tuning, iterated rounds, report.
//
//   prune --cfg configs/sicknet_fmnist.ini
//   prune --cfg configs/sicknet_fmnist.ini --threshold 0.5 --iterations 2 --out runs/t05
//   prune --model runs/sicknet/sicknet.model --mode uniform --target-macs 0.3
//   prune --model runs/sicknet/sicknet.model --analyze        # list the prunable layers
//   prune --cfg configs/byom_sicknet.ini --model net.onnx --onnx-out pruned.onnx  # ONNX in and out
//
// Every [section] key of the config file has a command-line flag that overrides it (see --help).
#include <cstdio>

#include "framework/cli_options.h"
#include "framework/model_file.h"
#include "interop/model_any.h"
#include "pruning/dependency.h"
#include "pruning/prune_config.h"
#include "pruning/prune_run.h"

using namespace trim;

namespace {

int prune_main(int argc, char** argv) {
  CliOptions o("prune", "Prune a trained trim model structurally and fine-tune it (see docs/pruning.md).");
  o.option("cfg", "", "config file (ini: [model] [data] [pruning] [finetune] [output]); flags override its keys");
  for (const auto& k : prune_config_keys())
    o.option(k.flag, "", "[" + k.section + "] " + k.key + ": " + k.help + (k.dflt.empty() ? "" : " (default " + k.dflt + ")"));
  o.flag("analyze", "only list the prunable layers (channel groups) of the model and exit");
  o.flag("resume", "continue a killed run in the same output folder (fine-tuning resumes from its checkpoints)");
  if (!o.parse(argc, argv)) {
    std::fputs(o.usage().c_str(), stdout);
    return 0;
  }
  if (!o.positional().empty()) throw Error("unexpected argument '" + o.positional().front() + "' (use --cfg FILE)");
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const auto& k : prune_config_keys())
    if (o.given(k.flag)) overrides.emplace_back(k.flag, o.str(k.flag));
  const std::string cfg_path = o.str("cfg");
  const std::string text = cfg_path.empty() ? "" : read_file(cfg_path);
  PruneConfig cfg = parse_prune_config(text, cfg_path.empty() ? "<none>" : cfg_path, overrides);
  cfg.resume = o.on("resume");

  Model model = load_model_any(cfg.model_path);  // NAME.model or NAME.onnx (imported)
  if (o.on("analyze")) {
    GroupAnalysis a = analyze_groups(model);
    std::printf("%s: %lld MACs, %zu parameters, %zu prunable layers\n", cfg.model_path.c_str(),
                static_cast<long long>(model.macs()), model.num_params(), a.groups.size());
    for (const auto& g : a.groups) {
      std::printf("  %-14s %5d channels", g.name.c_str(), g.channels);
      for (int f : g.followers) std::printf("  -> %s", model.layers[static_cast<size_t>(f)]->name().c_str());
      std::printf("  => %s%s\n", model.layers[static_cast<size_t>(g.consumer)]->name().c_str(),
                  g.spatial > 1 ? (" (" + std::to_string(g.spatial) + " inputs per channel)").c_str() : "");
    }
    for (const auto& n : a.notes) std::printf("  %s\n", n.c_str());
    return 0;
  }
  DataSplits3 data = open_data_for(cfg, model);
  if (!cfg.quiet) std::fprintf(stderr, "prune: %s\n  %s\n", cfg.model_path.c_str(), data.describe().c_str());
  PruneReport rep = run_pruning(model, data, cfg);
  std::fputs(report_table(rep).c_str(), stdout);
  std::printf("pruned model: %s/%s (report: %s/%s)\n", cfg.folder.c_str(), PruneOutputs::model, cfg.folder.c_str(),
              PruneOutputs::report_json);
  if (!cfg.onnx_out.empty()) {
    save_model_any(load_model(cfg.folder + "/" + PruneOutputs::model), cfg.onnx_out);
    std::printf("pruned model as ONNX: %s\n", cfg.onnx_out.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("prune", prune_main, argc, argv); }
