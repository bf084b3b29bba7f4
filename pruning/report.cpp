#include "pruning/report.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace trim {

double PruneReport::speedup() const {
  return dense.latency_ms > 0 && final_model.latency_ms > 0 ? dense.latency_ms / final_model.latency_ms : -1;
}

double PruneReport::macs_reduction() const {
  return final_model.macs > 0 ? static_cast<double>(dense.macs) / static_cast<double>(final_model.macs) : -1;
}

namespace {

// A minimal JSON writer: enough for numbers, strings, arrays and objects, with NaN/negative
// "not measured" values written as null.
class Json {
 public:
  std::string str() const { return s_.str(); }
  void open(char c) {
    sep();
    s_ << c;
    first_ = true;
    ++depth_;
  }
  void close(char c) {
    --depth_;
    nl();
    s_ << c;
    first_ = false;
  }
  void key(const std::string& k) {
    sep();
    quote(k);
    s_ << ": ";
    after_key_ = true;
  }
  void value(const std::string& v) {
    sep();
    quote(v);
  }
  void value(const char* v) { value(std::string(v)); }
  void value(double v) {
    sep();
    if (!std::isfinite(v)) {
      s_ << "null";
      return;
    }
    char b[40];
    std::snprintf(b, sizeof b, "%.10g", v);
    s_ << b;
  }
  void value(int64_t v) {
    sep();
    s_ << v;
  }
  void value(int v) { value(static_cast<int64_t>(v)); }
  void value(size_t v) { value(static_cast<int64_t>(v)); }
  void value(bool v) {
    sep();
    s_ << (v ? "true" : "false");
  }
  void measured(double v) { value(v < 0 ? NAN : v); }  // < 0 means "not measured"
  template <class T>
  void kv(const std::string& k, const T& v) {
    key(k);
    value(v);
  }
  void kv_measured(const std::string& k, double v) {
    key(k);
    measured(v);
  }

 private:
  void sep() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) s_ << ",";
    first_ = false;
    nl();
  }
  void nl() {
    if (depth_ > 0 || s_.tellp() > 0) s_ << "\n" << std::string(static_cast<size_t>(2 * depth_), ' ');
  }
  void quote(const std::string& v) {
    s_ << '"';
    for (unsigned char c : v) {
      if (c == '"' || c == '\\') s_ << '\\' << c;
      else if (c == '\n') s_ << "\\n";
      else if (c < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        s_ << b;
      } else s_ << c;
    }
    s_ << '"';
  }
  std::ostringstream s_;
  bool first_ = true, after_key_ = false;
  int depth_ = 0;
};

void figures(Json& j, const std::string& name, const ModelFigures& f) {
  j.key(name);
  j.open('{');
  j.kv("macs", f.macs);
  j.kv("params", f.params);
  j.kv_measured("val_acc", f.val_acc);
  j.kv_measured("test_acc", f.test_acc);
  j.kv_measured("latency_ms", f.latency_ms);
  j.key("channels");
  j.open('{');
  for (const auto& c : f.channels) j.kv(c.first, c.second);
  j.close('}');
  j.close('}');
}

std::string pct(double a) {
  if (a < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * a);
  return b;
}
std::string fixed(double v, int prec) {
  if (v < 0 || !std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}
std::string millions(int64_t v) { return fixed(static_cast<double>(v) / 1e6, 2) + " M"; }
std::string thousands(size_t v) { return fixed(static_cast<double>(v) / 1e3, 1) + " k"; }

}  // namespace

std::string report_json(const PruneReport& r) {
  Json j;
  j.open('{');
  j.kv("model", r.model_path);
  j.kv("data", r.data);
  j.kv("mode", r.mode);
  j.kv("criterion", r.criterion);
  j.kv("output_folder", r.folder);
  j.key("latency");
  j.open('{');
  j.kv("engine", r.engine);
  j.kv("batch", 1);
  j.kv("threads", r.latency_threads);
  j.kv("runs", r.latency_runs);
  j.kv("statistic", "median of interleaved runs, same process");
  j.close('}');
  figures(j, "dense", r.dense);
  figures(j, "final", r.final_model);
  j.key("summary");
  j.open('{');
  j.kv_measured("speedup", r.speedup());
  j.kv_measured("macs_reduction", r.macs_reduction());
  j.kv_measured("params_reduction", r.final_model.params ? static_cast<double>(r.dense.params) / r.final_model.params : -1);
  j.kv_measured("test_drop_points",
                r.dense.test_acc >= 0 && r.final_model.test_acc >= 0 ? 100 * (r.dense.test_acc - r.final_model.test_acc) : NAN);
  j.kv_measured("val_drop_points",
                r.dense.val_acc >= 0 && r.final_model.val_acc >= 0 ? 100 * (r.dense.val_acc - r.final_model.val_acc) : NAN);
  j.kv("final_epochs", r.final_epochs);
  j.kv_measured("final_val_before_finetune", r.final_val_before);
  j.kv("seconds", r.seconds);
  j.close('}');
  j.key("rounds");
  j.open('[');
  for (const auto& rd : r.rounds) {
    j.open('{');
    j.kv("round", rd.round);
    j.kv("attempt", rd.attempt);
    j.kv("threshold", rd.threshold);
    j.kv("accepted", rd.accepted);
    j.kv("note", rd.note);
    j.kv_measured("scan_base_acc", rd.scan_base_acc);
    j.kv("scan_seconds", rd.scan_seconds);
    j.kv_measured("val_before_finetune", rd.val_before_finetune);
    j.kv("finetune_seconds", rd.finetune_seconds);
    figures(j, "model", rd.pruned);
    j.key("layers");
    j.open('[');
    for (const auto& l : rd.layers) {
      j.open('{');
      j.kv("layer", l.layer);
      j.kv("criterion", l.criterion);
      j.kv("channels_before", l.channels_before);
      j.kv("channels_after", l.channels_after);
      j.kv("requested_ratio", l.requested);
      j.kv("achieved_ratio", l.achieved());
      j.kv("rule", l.why);
      if (!l.members.empty()) j.kv("members", l.members);
      j.close('}');
    }
    j.close(']');
    j.close('}');
  }
  j.close(']');
  j.key("not_prunable");
  j.open('[');
  for (const auto& n : r.notes) j.value(n);
  j.close(']');
  j.kv("config", r.config_ini);
  j.close('}');
  return j.str() + "\n";
}

std::string report_summary(const PruneReport& r) {
  std::ostringstream s;
  s << "test accuracy " << pct(r.dense.test_acc) << " dense -> " << pct(r.final_model.test_acc) << " pruned";
  if (r.dense.test_acc >= 0 && r.final_model.test_acc >= 0)
    s << " (" << std::showpos << std::fixed << std::setprecision(2)
      << 100 * (r.final_model.test_acc - r.dense.test_acc) << std::noshowpos << " points)";
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
      << (f.latency_ms > 0 && r.dense.latency_ms > 0 ? "x" + fixed(r.dense.latency_ms / f.latency_ms, 2) : "-")
      << " |\n";
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
  auto row = [&](const std::string& name, double T, const ModelFigures& f, double val_before, const std::string& note) {
    s << std::left << std::setw(10) << name << std::right << std::setw(6) << (T >= 0 ? fixed(T, 2) : "-")
      << std::setw(11) << millions(f.macs) << std::setw(10) << thousands(f.params) << std::setw(12) << pct(val_before)
      << std::setw(10) << pct(f.val_acc) << std::setw(10) << pct(f.test_acc) << std::setw(12) << fixed(f.latency_ms, 3)
      << std::setw(9)
      << (f.latency_ms > 0 && r.dense.latency_ms > 0 ? "x" + fixed(r.dense.latency_ms / f.latency_ms, 2) : "-")
      << "  " << note << "\n";
  };
  row("dense", -1, r.dense, -1, "");
  for (const auto& rd : r.rounds)
    row("round " + std::to_string(rd.round) + (rd.attempt > 1 ? std::string(1, static_cast<char>('a' + rd.attempt - 1)) : ""), r.mode == "t_sensitive" ? rd.threshold : -1, rd.pruned,
        rd.val_before_finetune, (rd.accepted ? "" : "rejected: ") + rd.note);
  // Reports are rewritten after every round; until the run ends there is no final model yet.
  const bool done = r.final_model.macs > 0;
  if (done)
    row("final", -1, r.final_model, r.final_val_before,
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
        << std::setw(10) << fixed(l.achieved(), 3) << "  " << l.why << "\n"
        << (l.members.empty() ? "" : "    group " + l.members + "\n");
  }
  if (!r.notes.empty()) {
    s << "\nnot prunable:\n";
    for (const auto& n : r.notes) s << "  " << n << "\n";
  }
  if (done) s << "\n" << report_comparison(r) << "\n" << report_summary(r) << "\n";
  return s.str();
}

}  // namespace trim
