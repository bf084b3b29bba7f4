#include "pruning/prune_config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "framework/option_values.h"
#include "framework/strings.h"
#include "framework/tensor.h"
#include "framework/train_keys.h"
#include "pruning/criterion.h"

namespace trim {

TrainOptions PruneConfig::default_finetune() {
  TrainOptions t;
  t.schedule.epochs = 3;
  t.schedule.base_lr = 0.01f;
  t.schedule.kind = "cosine";
  t.sgd.momentum = 0.9f;
  t.sgd.nesterov = true;
  t.sgd.weight_decay = 5e-4f;
  return t;
}

double PruneConfig::threshold_for_round(int round) const {
  if (thresholds.empty()) throw Error("no pruning threshold set");
  const size_t i = static_cast<size_t>(std::max(1, round) - 1);
  return thresholds[std::min(i, thresholds.size() - 1)];
}

namespace {

// Parsers: `where` is "file:line: [section] key" or "command line --flag".
int to_int_in(const std::string& v, const std::string& where, long lo, long hi) {
  return static_cast<int>(parse_int_in(v, where, lo, hi));
}
double to_double_in(const std::string& v, const std::string& where, double lo, double hi, bool lo_open, bool hi_open) {
  return parse_double_in(v, where, lo, hi, lo_open, hi_open);
}
std::string num(double x) { return format_number(x); }
std::string join(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + num(v[i]);
  return s;
}
std::string join(const std::vector<int>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  return s.str();
}

using Setter = std::function<void(PruneConfig&, const std::string& value, const std::string& where)>;
using Getter = std::function<std::string(const PruneConfig&)>;

struct KeyImpl {
  ConfigKey key;
  Setter set;
  Getter get;
};

std::vector<KeyImpl> make_keys() {
  std::vector<KeyImpl> k = {
      {{"model", "path", "model", "", "the trained dense model (NAME.model, or NAME.onnx: imported)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         if (v.empty()) throw Error(w + ": empty model path");
         c.model_path = v;
       },
       [](const PruneConfig& c) { return c.model_path; }},
      {{"data", "data", "data", "fashion-mnist", "fashion-mnist, a folder of IDX files, or an image folder"},
       [](PruneConfig& c, const std::string& v, const std::string&) { c.data = v; },
       [](const PruneConfig& c) { return c.data; }},
      {{"data", "classes", "classes", "", "keep only these classes, e.g. 0,2,6 (default: the model's)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.classes.clear();
         for (const auto& s : split_list(v)) c.classes.push_back(to_int_in(s, w, 0, 1000000));
         std::set<int> seen(c.classes.begin(), c.classes.end());
         if (seen.size() != c.classes.size()) throw Error(w + ": a class is listed twice in '" + v + "'");
       },
       [](const PruneConfig& c) { return join(c.classes); }},
      {{"data", "val_fraction", "val-fraction", "0.1", "fraction of the training split held out for validation"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.val_fraction = to_double_in(v, w, 0, 1, true, true);
       },
       [](const PruneConfig& c) { return num(c.val_fraction); }},
      {{"data", "seed", "seed", "1", "seed of the validation split, fine-tuning and the random criterion"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.seed = static_cast<uint64_t>(to_int_in(v, w, 0, 2147483647));
       },
       [](const PruneConfig& c) { return std::to_string(c.seed); }},
      {{"data", "workers", "workers", "2", "data loader threads"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.workers = to_int_in(v, w, 0, kMaxWorkers); },
       [](const PruneConfig& c) { return std::to_string(c.workers); }},
      {{"pruning", "mode", "mode", "t_sensitive", "t_sensitive | uniform | global"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.mode = one_of(v, {"t_sensitive", "uniform", "global"}, w);
       },
       [](const PruneConfig& c) { return c.mode; }},
      {{"pruning", "criterion", "criterion", "mean_weight", "filter ranking: mean_weight, l1, l2, random, bn_gamma, mean_signed"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.criterion = one_of(v, criterion_names(), w); },
       [](const PruneConfig& c) { return c.criterion; }},
      {{"pruning", "threshold", "threshold", "1", "T: accuracy drop allowed per layer in the scan, in points; a list gives one per round"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.thresholds.clear();
         for (const auto& s : split_list(v)) c.thresholds.push_back(to_double_in(s, w, 0, 100, false, false));
         if (c.thresholds.empty()) throw Error(w + ": no threshold given");
       },
       [](const PruneConfig& c) { return join(c.thresholds); }},
      {{"pruning", "total_threshold", "total-threshold", "1", "T_total: iterate while validation accuracy is within this many points of dense"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.total_threshold = to_double_in(v, w, 0, 100, false, false);
       },
       [](const PruneConfig& c) { return num(c.total_threshold); }},
      {{"pruning", "ratios", "ratios", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "ratios tried by the sensitivity scan"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.ratios.clear();
         for (const auto& s : split_list(v)) c.ratios.push_back(to_double_in(s, w, 0, 1, true, true));
         if (c.ratios.empty()) throw Error(w + ": no ratio given");
         std::sort(c.ratios.begin(), c.ratios.end());
         c.ratios.erase(std::unique(c.ratios.begin(), c.ratios.end()), c.ratios.end());
       },
       [](const PruneConfig& c) { return join(c.ratios); }},
      {{"pruning", "max_ratio", "max-ratio", "0.9", "never remove more than this fraction of a layer"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.max_ratio = to_double_in(v, w, 0, 1, true, true);
       },
       [](const PruneConfig& c) { return num(c.max_ratio); }},
      {{"pruning", "min_channels", "min-channels", "8", "never keep fewer channels in a layer"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.min_channels = to_int_in(v, w, 1, 1 << 20); },
       [](const PruneConfig& c) { return std::to_string(c.min_channels); }},
      {{"pruning", "round_to", "round-to", "1", "round kept channel counts to a multiple of this (4, 8: full SIMD lanes)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.round_to = to_int_in(v, w, 1, 1024); },
       [](const PruneConfig& c) { return std::to_string(c.round_to); }},
      {{"pruning", "round", "round", "up", "how kept counts meet round_to: up (never past the scan) | nearest"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.round = one_of(v, {"up", "nearest"}, w); },
       [](const PruneConfig& c) { return c.round; }},
      {{"pruning", "iterations", "iterations", "1", "rounds of scan -> prune -> fine-tune (stops early past total_threshold)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.iterations = to_int_in(v, w, 1, 100); },
       [](const PruneConfig& c) { return std::to_string(c.iterations); }},
      {{"pruning", "retries", "retries", "0", "retry a round past total_threshold with T halved, this many times"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.retries = to_int_in(v, w, 0, 10); },
       [](const PruneConfig& c) { return std::to_string(c.retries); }},
      {{"pruning", "scan_samples", "scan-samples", "2000", "validation images used by the scan (0: all)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.scan_samples = to_int_in(v, w, 0, 100000000);
       },
       [](const PruneConfig& c) { return std::to_string(c.scan_samples); }},
      {{"pruning", "ratio", "ratio", "0.5", "uniform: ratio per layer per round; global: fraction of all channels per round"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.ratio = to_double_in(v, w, 0, 1, false, true); },
       [](const PruneConfig& c) { return num(c.ratio); }},
      {{"pruning", "target_macs", "target-macs", "0", "uniform/global: final MACs as a fraction of the dense model's (0: use ratio)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.target_macs = to_double_in(v, w, 0, 1, false, false);
       },
       [](const PruneConfig& c) { return num(c.target_macs); }},
      {{"finetune", "final_epochs", "final-epochs", "0", "extra fine-tuning epochs for the final model"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.final_epochs = to_int_in(v, w, 0, 10000); },
       [](const PruneConfig& c) { return std::to_string(c.final_epochs); }},
      {{"finetune", "final_lr", "final-lr", "0", "base learning rate of the final fine-tuning (0: lr)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.final_lr = to_double_in(v, w, 0, 10, false, false);
       },
       [](const PruneConfig& c) { return num(c.final_lr); }},
      {{"finetune", "dropout", "dropout", "model", "dropout probability while fine-tuning, kept in the pruned model (model: unchanged)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         c.dropout = v == "model" ? -1 : to_double_in(v, w, 0, 1, false, true);
       },
       [](const PruneConfig& c) { return c.dropout < 0 ? std::string("model") : num(c.dropout); }},
      {{"finetune", "batch", "batch", "64", "fine-tuning batch size"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.batch = to_int_in(v, w, 1, 65536); },
       [](const PruneConfig& c) { return std::to_string(c.batch); }},
      {{"output", "folder", "out", "runs/prune", "output folder: pruned model, report, scans"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         if (v.empty()) throw Error(w + ": empty output folder");
         if (v.find_first_not_of('/') == std::string::npos)
           throw Error(w + ": '" + v + "' is the file system root; give a folder below it");
         c.folder = v;
       },
       [](const PruneConfig& c) { return c.folder; }},

      {{"output", "threads", "threads", "0", "compute threads for scan and fine-tuning (0: all cores)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.threads = to_int_in(v, w, 0, kMaxThreads); },
       [](const PruneConfig& c) { return std::to_string(c.threads); }},
      {{"output", "latency_runs", "latency-runs", "200", "timed batch-1 runs per model for the latency figures"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.latency_runs = to_int_in(v, w, 1, 1000000); },
       [](const PruneConfig& c) { return std::to_string(c.latency_runs); }},
      {{"output", "latency_threads", "latency-threads", "1", "threads for the latency measurement"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.latency_threads = to_int_in(v, w, 1, kMaxThreads); },
       [](const PruneConfig& c) { return std::to_string(c.latency_threads); }},
      {{"output", "quiet", "quiet", "0", "no progress output (1/0)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) { c.quiet = parse_bool(v, w); },
       [](const PruneConfig& c) { return std::string(c.quiet ? "1" : "0"); }},
      {{"output", "onnx", "onnx-out", "", "also write the pruned model as ONNX to this NAME.onnx (opset 13)"},
       [](PruneConfig& c, const std::string& v, const std::string& w) {
         if (!v.empty() && (v.size() < 6 || !ends_with(v, ".onnx")))
           throw Error(w + ": '" + v + "' must end in .onnx");
         c.onnx_out = v;
       },
       [](const PruneConfig& c) { return c.onnx_out; }},
  };
  // [finetune]: the shared training keys, placed before the pruning-only ones of the section.
  auto at = std::find_if(k.begin(), k.end(), [](const KeyImpl& x) { return x.key.section == "finetune"; });
  std::vector<KeyImpl> train;
  const TrainOptions dflt = PruneConfig::default_finetune();
  for (const auto& t : train_keys())
    train.push_back({{"finetune", t.key, t.flag, t.get(dflt), t.help},
                     [set = t.set](PruneConfig& c, const std::string& v, const std::string& w) { set(c.finetune, v, w); },
                     [get = t.get](const PruneConfig& c) { return get(c.finetune); }});
  k.insert(at, train.begin(), train.end());
  return k;
}

const std::vector<KeyImpl>& keys() {
  static const std::vector<KeyImpl> k = make_keys();
  return k;
}

const std::vector<std::string>& section_names() {
  static const std::vector<std::string> s = {"model", "data", "pruning", "finetune", "output"};
  return s;
}

}  // namespace

const std::vector<ConfigKey>& prune_config_keys() {
  static const std::vector<ConfigKey> out = [] {
    std::vector<ConfigKey> v;
    for (const auto& k : keys()) v.push_back(k.key);
    return v;
  }();
  return out;
}

PruneConfig parse_prune_config(const std::string& text, const std::string& filename,
                               const std::vector<std::pair<std::string, std::string>>& overrides) {
  PruneConfig c;
  std::istringstream in(text);
  std::string raw, section;
  int lineno = 0;
  std::set<std::string> seen;
  while (std::getline(in, raw)) {
    ++lineno;
    const std::string at = filename + ":" + std::to_string(lineno);
    // Comments start with # or ; at the beginning of a line or after whitespace.
    std::string line = raw;
    for (size_t i = 0; i < line.size(); ++i)
      if ((line[i] == '#' || line[i] == ';') && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line.resize(i);
        break;
      }
    line = trim_ws(line);
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']') throw Error(at + ": malformed section header '" + line + "'");
      section = trim_ws(line.substr(1, line.size() - 2));
      const auto& names = section_names();
      if (std::find(names.begin(), names.end(), section) == names.end()) {
        std::string known;
        for (const auto& s : names) known += (known.empty() ? "" : ", ") + s;
        throw Error(at + ": unknown section [" + section + "] (known: " + known + ")");
      }
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) throw Error(at + ": expected key = value, got '" + line + "'");
    if (section.empty()) throw Error(at + ": key before the first [section]");
    const std::string key = trim_ws(line.substr(0, eq)), value = trim_ws(line.substr(eq + 1));
    const std::string where = at + ": [" + section + "] " + key;
    const KeyImpl* k = nullptr;
    std::string known;
    for (const auto& x : keys())
      if (x.key.section == section) {
        if (x.key.key == key) k = &x;
        known += (known.empty() ? "" : ", ") + x.key.key;
      }
    if (!k) throw Error(at + ": unknown key '" + key + "' in [" + section + "] (known: " + known + ")");
    if (!seen.insert(section + "." + key).second) throw Error(where + ": key given twice");
    k->set(c, value, where);
  }
  for (const auto& ov : overrides) {
    const KeyImpl* k = nullptr;
    for (const auto& x : keys())
      if (x.key.flag == ov.first || x.key.section + "." + x.key.key == ov.first) k = &x;
    if (!k) throw Error("command line: unknown option --" + ov.first);
    k->set(c, ov.second, "command line --" + ov.first);
  }
  validate_train_options(c.finetune, (text.empty() ? std::string("command line") : filename) + " [finetune]");
  if (c.model_path.empty())
    throw Error((text.empty() ? std::string("command line") : filename) +
                ": no model given ([model] path = NAME.model, or --model)");
  return c;
}

std::string config_to_ini(const PruneConfig& c) {
  std::ostringstream s;
  std::string section;
  for (const auto& k : keys()) {
    if (k.key.section != section) {
      section = k.key.section;
      s << (s.tellp() > 0 ? "\n" : "") << "[" << section << "]\n";
    }
    // A value starting with # or ; (read from "key =#x", where it is no comment) must not get a
    // space before it, or reading this file back would take it for one.
    const std::string v = k.get(c);
    s << k.key.key << (!v.empty() && (v[0] == '#' || v[0] == ';') ? " =" : " = ") << v << "\n";
  }
  return s.str();
}

}  // namespace trim
