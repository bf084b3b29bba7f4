#include "pruning/report.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "framework/json_writer.h"
#include "framework/strings.h"

namespace trim {

using Opt = std::optional<double>;

Opt PruneReport::speedup() const {
  if (!dense.latency_ms || !final_model.latency_ms || *final_model.latency_ms <= 0) return std::nullopt;
  return *dense.latency_ms / *final_model.latency_ms;
}

Opt PruneReport::macs_reduction() const {
  if (final_model.macs <= 0) return std::nullopt;
  return static_cast<double>(dense.macs) / static_cast<double>(final_model.macs);
}

namespace {

Opt drop_points(const Opt& dense, const Opt& pruned) {
  if (!dense || !pruned) return std::nullopt;
  return 100 * (*dense - *pruned);
}

}  // namespace

Opt PruneReport::test_drop_points() const { return drop_points(dense.test_acc, final_model.test_acc); }
Opt PruneReport::val_drop_points() const { return drop_points(dense.val_acc, final_model.val_acc); }

namespace {

void figures(JsonWriter& j, const std::string& name, const ModelFigures& f) {
  j.key(name);
  j.begin_object();
  j.kv("macs", f.macs);
  j.kv("params", f.params);
  j.kv("val_acc", f.val_acc);
  j.kv("test_acc", f.test_acc);
  j.kv("latency_ms", f.latency_ms);
  j.key("channels");
  j.begin_object();
  for (const auto& c : f.channels) j.kv(c.first, c.second);
  j.end_object();
  j.end_object();
}

std::string pct(const Opt& a) { return a ? percent(*a) : "-"; }
std::string fixed(const Opt& v, int prec) {
  if (!v || !std::isfinite(*v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << *v;
  return s.str();
}
std::string millions(int64_t v) { return fixed(static_cast<double>(v) / 1e6, 2) + " M"; }
std::string thousands(size_t v) { return fixed(static_cast<double>(v) / 1e3, 1) + " k"; }
// Speedup of f over the dense model, "x1.23", or "-" when either latency is missing.
std::string speedup_of(const ModelFigures& dense, const ModelFigures& f) {
  if (!dense.latency_ms || !f.latency_ms || *f.latency_ms <= 0) return "-";
  return "x" + fixed(*dense.latency_ms / *f.latency_ms, 2);
}

}  // namespace

std::string report_json(const PruneReport& r) {
  JsonWriter j;
  j.begin_object();
  j.kv("model", r.model_path);
  j.kv("data", r.data);
  j.kv("mode", r.mode);
  j.kv("criterion", r.criterion);
  j.kv("output_folder", r.folder);
  j.key("latency");
  j.begin_object();
  j.kv("engine", r.engine);
  j.kv("batch", 1);
  j.kv("threads", r.latency_threads);
  j.kv("runs", r.latency_runs);
  j.kv("statistic", "median of interleaved runs, same process");
  j.end_object();
  figures(j, "dense", r.dense);
  figures(j, "final", r.final_model);
  j.key("summary");
  j.begin_object();
  j.kv("speedup", r.speedup());
  j.kv("macs_reduction", r.macs_reduction());
  j.kv("params_reduction",
       r.final_model.params ? Opt(static_cast<double>(r.dense.params) / static_cast<double>(r.final_model.params)) : Opt());
  j.kv("test_drop_points", r.test_drop_points());
  j.kv("val_drop_points", r.val_drop_points());
  j.kv("final_epochs", r.final_epochs);
  j.kv("final_val_before_finetune", r.final_val_before);
  j.kv("seconds", r.seconds);
  j.end_object();
  j.key("rounds");
  j.begin_array();
  for (const auto& rd : r.rounds) {
    j.begin_object();
    j.kv("round", rd.round);
    j.kv("attempt", rd.attempt);
    j.kv("threshold", rd.threshold);
    j.kv("accepted", rd.accepted);
    j.kv("note", rd.note);
    j.kv("scan_base_acc", rd.scan_base_acc);
    j.kv("scan_seconds", rd.scan_seconds);
    j.kv("val_before_finetune", rd.val_before_finetune);
    j.kv("finetune_seconds", rd.finetune_seconds);
    figures(j, "model", rd.pruned);
    j.key("layers");
    j.begin_array();
    for (const auto& l : rd.layers) {
      j.begin_object();
      j.kv("layer", l.layer);
      j.kv("criterion", l.criterion);
      j.kv("channels_before", l.channels_before);
      j.kv("channels_after", l.channels_after);
      j.kv("requested_ratio", l.requested);
      j.kv("achieved_ratio", l.achieved());
      j.kv("rule", l.why);
      j.end_object();
    }
    j.end_array();
    j.end_object();
  }
  j.end_array();
  j.key("not_prunable");
  j.begin_array();
  for (const auto& n : r.notes) j.value(n);
  j.end_array();
  j.kv("config", r.config_ini);
  j.end_object();
  return j.str() + "\n";
}

std::string report_summary(const PruneReport& r) {
  std::ostringstream s;
  s << "test accuracy " << pct(r.dense.test_acc) << " dense -> " << pct(r.final_model.test_acc) << " pruned";
  if (const Opt drop = r.test_drop_points())
    s << " (" << std::showpos << std::fixed << std::setprecision(2) << -*drop << std::noshowpos << " points)";
  s << ", MACs " << millions(r.dense.macs) << " -> " << millions(r.final_model.macs) << " (x"
    << fixed(r.macs_reduction(), 2) << "), latency " << fixed(r.dense.latency_ms, 3) << " -> "
    << fixed(r.final_model.latency_ms, 3) << " ms (x" << fixed(r.speedup(), 2) << ")";
  return s.str();
}

std::string report_comparison(const PruneReport& r) {
  std::ostringstream s;
  s << "| model | test accuracy | parameters | MACs | latency (ms, batch 1) | speedup |\n";
  s << "|---|---:|---:|---:|---:|---:|\n";
  auto row = [&](const std::string& name, const ModelFigures& f) {
    s << "| " << name << " | " << pct(f.test_acc) << " | " << thousands(f.params) << " | " << millions(f.macs)
      << " | " << fixed(f.latency_ms, 3) << " | "
      << speedup_of(r.dense, f) << " |\n";
  };
  row("dense", r.dense);
  if (r.final_model.macs == 0) return s.str() + "(run in progress)\n";
  int accepted = 0;
  for (const auto& rd : r.rounds) accepted += rd.accepted && rd.has_model;
  row("pruned (" + r.criterion + ", " + r.mode + ", " + std::to_string(accepted) + " round" +
          (accepted == 1 ? "" : "s") + ")",
      r.final_model);
  return s.str();
}

std::string report_table(const PruneReport& r) {
  std::ostringstream s;
  s << "pruning report: " << r.model_path << "\n";
  s << "  mode " << r.mode << ", criterion " << r.criterion << ", data " << r.data << "\n";
  s << "  latency: " << r.engine << ", batch 1, " << r.latency_threads << " thread(s), median of " << r.latency_runs
    << " interleaved runs\n\n";

  // Per round: the model after the round.
  s << std::left << std::setw(10) << "model" << std::right << std::setw(6) << "T" << std::setw(11) << "MACs"
    << std::setw(10) << "params" << std::setw(12) << "val pruned" << std::setw(10) << "val ft" << std::setw(10)
    << "test" << std::setw(12) << "latency ms" << std::setw(9) << "speedup" << "  note\n";
  auto row = [&](const std::string& name, const Opt& T, const ModelFigures& f, const Opt& val_before,
                 const std::string& note) {
    s << std::left << std::setw(10) << name << std::right << std::setw(6) << fixed(T, 2)
      << std::setw(11) << millions(f.macs) << std::setw(10) << thousands(f.params) << std::setw(12) << pct(val_before)
      << std::setw(10) << pct(f.val_acc) << std::setw(10) << pct(f.test_acc) << std::setw(12) << fixed(f.latency_ms, 3)
      << std::setw(9) << speedup_of(r.dense, f) << "  " << note << "\n";
  };
  row("dense", std::nullopt, r.dense, std::nullopt, "");
  for (const auto& rd : r.rounds)
    row("round " + std::to_string(rd.round) + (rd.attempt > 1 ? std::string(1, static_cast<char>('a' + rd.attempt - 1)) : ""), r.mode == "t_sensitive" ? Opt(rd.threshold) : std::nullopt, rd.pruned,
        rd.val_before_finetune, (rd.accepted ? "" : "rejected: ") + rd.note);
  // Reports are rewritten after every round; until the run ends there is no final model yet.
  const bool done = r.final_model.macs > 0;
  if (done)
    row("final", std::nullopt, r.final_model, r.final_val_before,
        r.final_epochs > 0 ? "after " + std::to_string(r.final_epochs) + " more epochs" : "");
  else
    s << "(run in progress)\n";
  s << "\n";

  // Channels per layer per round.
  s << std::left << std::setw(14) << "layer" << std::right << std::setw(7) << "dense";
  for (const auto& rd : r.rounds)
    s << std::setw(9)
      << ("r" + std::to_string(rd.round) + (rd.attempt > 1 ? std::string(1, static_cast<char>('a' + rd.attempt - 1)) : "") +
          (rd.accepted ? "" : "*"));
  s << std::setw(8) << "final" << std::setw(9) << "kept" << "\n";
  for (size_t i = 0; i < r.dense.channels.size(); ++i) {
    const auto& name = r.dense.channels[i].first;
    s << std::left << std::setw(14) << name << std::right << std::setw(7) << r.dense.channels[i].second;
    for (const auto& rd : r.rounds) {
      int c = -1;
      for (const auto& x : rd.pruned.channels)
        if (x.first == name) c = x.second;
      s << std::setw(9) << (c < 0 ? "-" : std::to_string(c));
    }
    int f = -1;
    for (const auto& x : r.final_model.channels)
      if (x.first == name) f = x.second;
    if (f < 0)
      s << std::setw(8) << "-" << std::setw(9) << "-" << "\n";
    else
      s << std::setw(8) << f << std::setw(8) << fixed(100.0 * f / r.dense.channels[i].second, 0) << "%\n";
  }
  bool rejected = false;
  for (const auto& rd : r.rounds) rejected = rejected || !rd.accepted;
  if (rejected) s << "  (* rejected round: not kept)\n";
  s << "\n";

  // Per round and layer: requested vs achieved.
  for (const auto& rd : r.rounds) {
    s << "round " << rd.round << (rd.attempt > 1 ? " attempt " + std::to_string(rd.attempt) : "")
      << (rd.accepted ? "" : " (rejected)");
    if (r.mode == "t_sensitive")
      s << ": T = " << rd.threshold << " points, scan base accuracy " << pct(rd.scan_base_acc) << " ("
        << fixed(rd.scan_seconds, 1) << " s)";
    s << ", fine-tuning " << fixed(rd.finetune_seconds, 1) << " s\n";
    s << "  " << std::left << std::setw(14) << "layer" << std::setw(22) << "criterion" << std::right << std::setw(8)
      << "before" << std::setw(7) << "after" << std::setw(11) << "requested" << std::setw(10) << "achieved"
      << "  rule\n";
    for (const auto& l : rd.layers)
      s << "  " << std::left << std::setw(14) << l.layer << std::setw(22) << l.criterion << std::right << std::setw(8)
        << l.channels_before << std::setw(7) << l.channels_after << std::setw(11) << fixed(l.requested, 2)
        << std::setw(10) << fixed(l.achieved(), 3) << "  " << l.why << "\n";
  }
  if (!r.notes.empty()) {
    s << "\nnot prunable:\n";
    for (const auto& n : r.notes) s << "  " << n << "\n";
  }
  if (done) s << "\n" << report_comparison(r) << "\n" << report_summary(r) << "\n";
  return s.str();
}

}  // namespace trim
