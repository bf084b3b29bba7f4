#include "framework/train_keys.h"

#include "framework/cli_options.h"
#include "framework/option_values.h"
#include "framework/tensor.h"

namespace trim {

namespace {

std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

float to_float(double x) { return static_cast<float>(x); }

}  // namespace

const std::vector<TrainKey>& train_keys() {
  static const std::vector<TrainKey> k = {
      {"epochs", "epochs", "training epochs",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.schedule.epochs = static_cast<int>(parse_int_in(v, w, 0, 100000));
       },
       [](const TrainOptions& t) { return std::to_string(t.schedule.epochs); }},
      {"lr", "lr", "base learning rate",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.schedule.base_lr = to_float(parse_double_in(v, w, 0, 10, true, false));
       },
       [](const TrainOptions& t) { return format_number(t.schedule.base_lr); }},
      {"schedule", "schedule", "learning-rate schedule: cosine | step | constant",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.schedule.kind = one_of(v, {"cosine", "step", "constant"}, w);
       },
       [](const TrainOptions& t) { return t.schedule.kind; }},
      {"milestones", "milestones", "step schedule: epochs where lr *= gamma, e.g. 5,8",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.schedule.milestones = parse_int_list(v, w, 1, 100000);
       },
       [](const TrainOptions& t) { return join(t.schedule.milestones); }},
      {"gamma", "gamma", "step schedule factor, in (0, 1]",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.schedule.gamma = to_float(parse_double_in(v, w, 0, 1, true, false));
       },
       [](const TrainOptions& t) { return format_number(t.schedule.gamma); }},
      {"warmup", "warmup", "linear warm-up epochs",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.schedule.warmup_epochs = static_cast<int>(parse_int_in(v, w, 0, 100000));
       },
       [](const TrainOptions& t) { return std::to_string(t.schedule.warmup_epochs); }},
      {"momentum", "momentum", "SGD momentum, in [0, 1)",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.sgd.momentum = to_float(parse_double_in(v, w, 0, 1, false, true));
       },
       [](const TrainOptions& t) { return format_number(t.sgd.momentum); }},
      {"nesterov", "nesterov", "Nesterov momentum (1/0)",
       [](TrainOptions& t, const std::string& v, const std::string& w) { t.sgd.nesterov = parse_bool(v, w); },
       [](const TrainOptions& t) { return std::string(t.sgd.nesterov ? "1" : "0"); }},
      {"weight_decay", "wd", "weight decay, in [0, 1] (not on BN or bias unless decay_bn_bias)",
       [](TrainOptions& t, const std::string& v, const std::string& w) {
         t.sgd.weight_decay = to_float(parse_double_in(v, w, 0, 1));
       },
       [](const TrainOptions& t) { return format_number(t.sgd.weight_decay); }},
      {"decay_bn_bias", "decay-bn-bias", "apply weight decay to BN parameters and biases too (1/0)",
       [](TrainOptions& t, const std::string& v, const std::string& w) { t.sgd.decay_bn_and_bias = parse_bool(v, w); },
       [](const TrainOptions& t) { return std::string(t.sgd.decay_bn_and_bias ? "1" : "0"); },
       true},
  };
  return k;
}

void declare_train_options(CliOptions& o, const TrainOptions& defaults,
                           const std::vector<std::pair<std::string, std::string>>& help) {
  for (const auto& k : train_keys()) {
    std::string h = k.help;
    for (const auto& x : help)
      if (x.first == k.flag) h = x.second;
    if (k.is_switch) o.flag(k.flag, h);
    else o.option(k.flag, k.get(defaults), h);
  }
}

void apply_train_options(const CliOptions& o, TrainOptions& t) {
  for (const auto& k : train_keys())
    if (o.given(k.flag)) k.set(t, o.str(k.flag), "option --" + k.flag);
  validate_train_options(t, "command line");
}

void validate_train_options(const TrainOptions& t, const std::string& where) {
  const LrSchedule& s = t.schedule;
  if (s.epochs > 0 && s.warmup_epochs >= s.epochs)
    throw Error(where + ": warmup (" + std::to_string(s.warmup_epochs) + " epochs) must be shorter than the " +
                std::to_string(s.epochs) + " epochs of the run");
  if (s.kind != "step" && !s.milestones.empty()) throw Error(where + ": milestones are for schedule = step only");
  if (s.kind == "step" && s.milestones.empty()) throw Error(where + ": schedule step needs milestones, e.g. 5,8");
  for (size_t i = 0; i < s.milestones.size(); ++i) {
    if (s.epochs > 0 && s.milestones[i] >= s.epochs)
      throw Error(where + ": milestone " + std::to_string(s.milestones[i]) + " is not inside the " +
                  std::to_string(s.epochs) + " epochs");
    if (i > 0 && s.milestones[i] <= s.milestones[i - 1]) throw Error(where + ": milestones must rise, e.g. 5,8");
  }
}

}  // namespace trim
