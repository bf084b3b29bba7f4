#include "pruning/prune_run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "framework/evaluate.h"
#include "framework/layers/dropout.h"
#include "framework/model_file.h"
#include "framework/strings.h"
#include "framework/threads.h"
#include "framework/trainer.h"
#include "pruning/criterion.h"
#include "pruning/dependency.h"
#include "pruning/latency.h"
#include "pruning/policy.h"
#include "pruning/scan_plot.h"
#include "pruning/sensitivity.h"
#include "pruning/surgery.h"

namespace trim {

namespace {

std::vector<std::pair<std::string, int>> channels_of(const Model& m) {
  std::vector<std::pair<std::string, int>> v;
  for (const auto& g : analyze_groups(m).groups) v.emplace_back(g.name, g.channels);
  return v;
}

ModelFigures figures_of(const Model& m) {
  ModelFigures f;
  f.macs = m.macs();
  f.params = m.num_params();
  f.channels = channels_of(m);
  return f;
}

struct Splits {
  std::unique_ptr<Batcher> val, test;
};

std::optional<double> top1(Model& m, Batcher* src, int threads) {
  if (!src) return std::nullopt;
  return evaluate(m, *src, threads).top1;
}

// "92.48%", or "-" for a split the data set does not have.
std::string pct(const std::optional<double>& a) { return a ? percent(*a) : "-"; }

// Every fine-tuning checkpoints into its own folder, <output>/finetune-<round...>, so that a
// killed run continued with --resume picks each one up where it stopped (finished ones return at
// once with their best weights; the scans before them are recomputed, being deterministic).
TrainResult finetune(Model& m, const DataSplits3& d, Batcher* val, const PruneConfig& c, int epochs, double lr,
                     uint64_t seed, const std::string& label) {
  if (c.dropout >= 0)
    for (auto& l : m.layers)
      if (auto* d = dynamic_cast<Dropout*>(l.get())) d->p = static_cast<float>(c.dropout);
  TrainOptions t = c.finetune;  // the mapping tools/train uses too (framework/train_keys.h)
  std::string folder = label;
  for (char& ch : folder)
    if (ch == ' ') ch = '-';
  t.out_dir = c.folder + "/" + folder;
  t.resume = c.resume;
  t.schedule.base_lr = static_cast<float>(lr);
  t.schedule.epochs = epochs;
  t.seed = seed;
  t.threads = c.threads;
  t.progress = !c.quiet;
  t.label = label;
  auto src = make_batcher(d.train, c.batch, true, seed, c.workers);
  return train(m, *src, val, t);
}

void say(const PruneConfig& c, const std::string& s) {
  if (!c.quiet) std::fprintf(stderr, "prune: %s\n", s.c_str());
}

// Fine-tunes m and returns its validation accuracy afterwards. Fine-tuning returns its best epoch
// on validation, yet a lightly pruned model can still come out worse than it went in (the
// learning rate knocks it off its minimum); then m gets its weights from before back - a choice
// made on validation like every other - and *kept_before (when given) is set.
double finetune_unless_worse(Model& m, double val_before, const DataSplits3& d, Batcher* val, const PruneConfig& c,
                             int epochs, double lr, uint64_t seed, const std::string& label, bool* kept_before = nullptr) {
  Model untuned = m.clone();
  finetune(m, d, val, c, epochs, lr, seed, label);
  const double after = top1(m, val, c.threads).value();
  const bool worse = after < val_before;
  if (kept_before) *kept_before = worse;
  if (!worse) return after;
  m = std::move(untuned);
  say(c, label + " did not beat its starting point on validation; keeping the weights before it");
  return val_before;
}

}  // namespace

DataSplits3 open_data_for(const PruneConfig& cfg, const Model& model) {
  DataSpec ds;
  ds.data = cfg.data;
  ds.classes = cfg.classes;
  ds.val_fraction = cfg.val_fraction;
  ds.seed = cfg.seed;
  ds.image_size = model.input[1];
  DataSplits3 d =
      open_data_for_model(ds, {cfg.model_path, model.input, model.classes(), model.class_names}, "[data] classes");
  if (!d.val) throw Error("pruning needs a validation split: set [data] val_fraction > 0");
  return d;
}

namespace {

// The output folder must not hold the input model: a round's or the final model (in the folder)
// or a fine-tuning's (in its finetune-* subfolder) would replace it. Compared as directories
// (device + inode), not as spellings.
void refuse_output_holding_input(const PruneConfig& cfg) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = fs::absolute(fs::path(cfg.model_path), ec).parent_path();
  const bool in_folder = same_file(dir.string(), cfg.folder);
  const bool in_finetune = dir.filename().string().rfind("finetune", 0) == 0 && same_file(dir.parent_path().string(), cfg.folder);
  if (in_folder || in_finetune)
    throw Error("[output] folder " + cfg.folder + " holds the input model " + cfg.model_path +
                ", which the run would write over: choose another output folder");
}

}  // namespace

PruneReport run_pruning(const Model& dense_in, const DataSplits3& data, const PruneConfig& cfg) {
  const auto t_start = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  refuse_output_holding_input(cfg);
  std::error_code ec;
  fs::create_directories(cfg.folder, ec);
  if (ec) throw Error(cfg.folder + ": cannot create the output folder: " + ec.message());
  const std::string dir = cfg.folder + "/";
  write_file_atomic(dir + PruneOutputs::config, config_to_ini(cfg));

  ThreadScope scope(cfg.threads);
  RatioLimits lim;
  lim.max_ratio = cfg.max_ratio;
  lim.min_channels = cfg.min_channels;
  lim.round_to = cfg.round_to;
  lim.round_nearest = cfg.round == "nearest";
  lim.validate();

  Model dense = dense_in.clone();
  auto val = make_batcher(data.val, 256, false, cfg.seed, cfg.workers);
  std::unique_ptr<Batcher> test;
  if (data.test) test = make_batcher(data.test, 256, false, cfg.seed, cfg.workers);

  PruneReport rep;
  rep.model_path = cfg.model_path;
  rep.data = data.describe();
  rep.mode = cfg.mode;
  rep.criterion = cfg.criterion;
  rep.engine = latency_engine();
  rep.latency_threads = cfg.latency_threads;
  rep.latency_runs = cfg.latency_runs;
  rep.config_ini = config_to_ini(cfg);
  rep.folder = cfg.folder;
  rep.final_epochs = cfg.final_epochs;
  rep.notes = analyze_groups(dense).notes;
  rep.dense = figures_of(dense);
  rep.dense.val_acc = top1(dense, val.get(), cfg.threads);
  rep.dense.test_acc = top1(dense, test.get(), cfg.threads);
  say(cfg, "dense model: " + std::to_string(rep.dense.macs) + " MACs, " + std::to_string(rep.dense.params) +
               " parameters, val " + pct(rep.dense.val_acc) + ", test " + pct(rep.dense.test_acc));

  SampleSet scan_data;
  if (cfg.mode == "t_sensitive") scan_data = load_samples(*data.val, static_cast<size_t>(cfg.scan_samples));

  auto write_reports = [&]() {
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    write_file_atomic(dir + PruneOutputs::report_json, report_json(rep));
    write_file_atomic(dir + PruneOutputs::report_txt, report_table(rep));
    write_file_atomic(dir + PruneOutputs::summary, report_comparison(rep));
  };

  Model current = dense.clone();
  std::vector<Model> round_models;  // every attempt's model (rejected ones too, for their latency)
  int last_accepted = -1;           // index into round_models
  size_t last_accepted_row = 0;     // index into rep.rounds
  std::string csv;
  bool stop = false;
  for (int round = 1; round <= cfg.iterations && !stop; ++round) {
    const GroupAnalysis a = analyze_groups(current);
    if (a.groups.empty()) throw Error(cfg.model_path + ": the model has no prunable layers");
    auto crit = make_criterion(cfg.criterion, cfg.seed + static_cast<uint64_t>(round));
    const std::string tag = "round " + std::to_string(round);
    ScanResult scan;
    if (cfg.mode == "t_sensitive") {
      ScanOptions so;
      so.ratios = cfg.ratios;
      so.progress = !cfg.quiet;
      so.label = "scan " + tag;
      scan = sensitivity_scan(current, a, *crit, scan_data, so);
      csv += scan_csv(scan, round, round == 1);
      write_file_atomic(dir + PruneOutputs::scan_csv, csv);
      write_file_atomic(dir + "scan_round" + std::to_string(round) + ".svg",
                        scan_svg(scan, cfg.threshold_for_round(round), "sensitivity scan, " + tag + " (" + cfg.model_path + ")"));
    }
    // A T-sensitive round past the accuracy budget may be retried from the same model and scan
    // with T halved (`retries` times) before the run stops.
    const int attempts = cfg.mode == "t_sensitive" ? 1 + cfg.retries : 1;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      RoundReport rr;
      rr.round = round;
      rr.attempt = attempt;
      rr.threshold = cfg.threshold_for_round(round) * std::pow(0.5, attempt - 1);
      const std::string atag = tag + (attempt > 1 ? " attempt " + std::to_string(attempt) : "");
      std::vector<LayerChoice> choices;
      if (cfg.mode == "t_sensitive") {
        rr.scan_base_acc = scan.base_acc;
        rr.scan_seconds = attempt == 1 ? scan.seconds : 0;
        choices = choose_t_sensitive(scan, rr.threshold, lim);
      } else {
        int64_t target = -1;
        if (cfg.target_macs > 0)
          target = static_cast<int64_t>(std::llround(
              static_cast<double>(rep.dense.macs) * std::pow(cfg.target_macs, static_cast<double>(round) / cfg.iterations)));
        if (cfg.mode == "uniform")
          choices = target >= 0 ? uniform_for_macs(current, a, target, lim) : choose_uniform(a, cfg.ratio, lim);
        else
          choices = target >= 0 ? global_for_macs(current, a, *crit, target, lim)
                                : choose_global(current, a, *crit, cfg.ratio, lim);
      }
      for (auto& ch : choices) ch.criterion = criterion_label(*crit, *a.find(ch.layer));
      rr.layers = choices;
      const ChannelRemoval rm = removal_for(current, a, *crit, choices);
      if (rm.empty()) {
        rr.accepted = false;
        rr.note = cfg.mode == "t_sensitive" ? "no layer can be pruned within T" : "nothing left to prune within the limits";
        rr.pruned = figures_of(current);
        rep.rounds.push_back(rr);
        say(cfg, atag + ": " + rr.note + "; stopping");
        stop = true;
        break;
      }
      Model pruned = prune_channels(current, a, rm, 1);
      const double val_pruned = top1(pruned, val.get(), cfg.threads).value();
      rr.val_before_finetune = val_pruned;
      say(cfg, atag + ": " + std::to_string(current.macs()) + " -> " + std::to_string(pruned.macs()) +
                   " MACs, val before fine-tuning " + pct(rr.val_before_finetune));
      double val_now = val_pruned;
      if (cfg.finetune.schedule.epochs > 0) {
        auto t0 = std::chrono::steady_clock::now();
        bool kept_before = false;
        val_now = finetune_unless_worse(pruned, val_pruned, data, val.get(), cfg, cfg.finetune.schedule.epochs, cfg.finetune.schedule.base_lr,
                                        cfg.seed + 1000u * static_cast<uint64_t>(round) + static_cast<uint64_t>(attempt),
                                        "finetune " + atag, &kept_before);
        rr.finetune_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (kept_before) rr.note = "kept the weights before fine-tuning (better on val)";
      }
      rr.pruned = figures_of(pruned);
      rr.pruned.val_acc = val_now;
      rr.pruned.test_acc = top1(pruned, test.get(), cfg.threads);
      const double val_drop = 100 * (*rep.dense.val_acc - val_now);
      // The accuracy budget governs how far T-sensitive pruning iterates. The baselines prune to a
      // fixed ratio or cost, so they run every round (their accuracy is what is compared).
      if (cfg.mode == "t_sensitive" && val_drop > cfg.total_threshold) {
        rr.accepted = false;
        char b[160];
        std::snprintf(b, sizeof b, "val drop %.2f points > total_threshold %.2f", val_drop, cfg.total_threshold);
        rr.note = rr.note.empty() ? std::string(b) : std::string(b) + "; " + rr.note;
      }
      say(cfg, atag + ": after fine-tuning val " + pct(rr.pruned.val_acc) + ", test " + pct(rr.pruned.test_acc) +
                   (rr.accepted ? "" : " -- rejected (" + rr.note + ")"));
      rr.has_model = true;
      save_model(pruned, dir + "round" + std::to_string(round) +
                             (attempt > 1 ? std::string(1, static_cast<char>('a' + attempt - 1)) : "") + ".model");
      round_models.push_back(std::move(pruned));
      rep.rounds.push_back(rr);
      write_reports();
      if (rr.accepted) {
        last_accepted = static_cast<int>(round_models.size()) - 1;
        last_accepted_row = rep.rounds.size() - 1;
        current = round_models.back().clone();
        break;
      }
      if (attempt == attempts) stop = true;
    }
  }

  // The final model: the last accepted round (the dense model if none), optionally fine-tuned more.
  Model final_model = last_accepted >= 0 ? round_models[static_cast<size_t>(last_accepted)].clone() : dense.clone();
  rep.final_model = last_accepted >= 0 ? rep.rounds[last_accepted_row].pruned : rep.dense;
  if (cfg.final_epochs > 0 && last_accepted >= 0) {
    rep.final_val_before = rep.final_model.val_acc;
    rep.final_model.val_acc =
        finetune_unless_worse(final_model, rep.final_val_before.value(), data, val.get(), cfg, cfg.final_epochs,
                              cfg.final_lr > 0 ? cfg.final_lr : cfg.finetune.schedule.base_lr, cfg.seed + 999983u, "finetune final");
    rep.final_model.test_acc = top1(final_model, test.get(), cfg.threads);
    say(cfg, "final fine-tuning: val " + pct(rep.final_model.val_acc) + ", test " + pct(rep.final_model.test_acc));
  }
  save_model(final_model, dir + PruneOutputs::model);

  // Latency: dense, every round and the final model, interleaved in this one process.
  std::vector<Model*> ms = {&dense};
  for (auto& m : round_models) ms.push_back(&m);
  ms.push_back(&final_model);
  LatencyOptions lo;
  lo.runs = cfg.latency_runs;
  lo.threads = cfg.latency_threads;
  say(cfg, "measuring batch-1 latency of " + std::to_string(ms.size()) + " models (" + latency_engine() + ")");
  std::vector<Latency> lat = measure_latency(ms, lo);
  rep.dense.latency_ms = lat[0].median_ms;
  size_t k = 1;
  for (auto& rd : rep.rounds)
    if (rd.has_model) rd.pruned.latency_ms = lat[k++].median_ms;
  rep.final_model.latency_ms = lat.back().median_ms;
  write_reports();
  return rep;
}

}  // namespace trim
