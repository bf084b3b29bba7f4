// The pruning config file (pruning/prune_config.h): sections and keys, command-line overrides,
// and errors that name the file, the line and the key.
#include <gtest/gtest.h>

#include <set>

#include "framework/tensor.h"
#include "pruning/prune_config.h"

namespace trim {
namespace {

const char* kGood =
    "# SICK-Net on Fashion-MNIST\n"
    "[model]\n"
    "path = runs/sicknet/sicknet.model\n"
    "\n"
    "[data]\n"
    "data = fashion-mnist   ; the Debian package\n"
    "classes = 0, 2, 6\n"
    "val_fraction = 0.2\n"
    "[pruning]\n"
    "mode = t_sensitive\n"
    "criterion = l1\n"
    "threshold = 2, 1.5, 1\n"
    "ratios = 0.5, 0.25, 0.75\n"
    "min_channels = 4\n"
    "round_to = 8\n"
    "round = nearest\n"
    "iterations = 4\n"
    "[finetune]\n"
    "epochs = 2\n"
    "lr = 0.02\n"
    "dropout = 0.1\n"
    "[output]\n"
    "folder = runs/out\n";

std::string error_of(const std::string& text, const std::vector<std::pair<std::string, std::string>>& ov = {}) {
  try {
    parse_prune_config(text, "cfg.ini", ov);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PruneConfig, ReadsEverySection) {
  PruneConfig c = parse_prune_config(kGood, "cfg.ini");
  EXPECT_EQ(c.model_path, "runs/sicknet/sicknet.model");
  EXPECT_EQ(c.data, "fashion-mnist");
  EXPECT_EQ(c.classes, std::vector<int>({0, 2, 6}));
  EXPECT_DOUBLE_EQ(c.val_fraction, 0.2);
  EXPECT_EQ(c.criterion, "l1");
  EXPECT_EQ(c.ratios, std::vector<double>({0.25, 0.5, 0.75}));  // sorted
  EXPECT_EQ(c.min_channels, 4);
  EXPECT_EQ(c.round_to, 8);
  EXPECT_EQ(c.iterations, 4);
  EXPECT_EQ(c.finetune.schedule.epochs, 2);
  EXPECT_FLOAT_EQ(c.finetune.schedule.base_lr, 0.02f);
  EXPECT_EQ(c.round, "nearest");
  EXPECT_DOUBLE_EQ(c.dropout, 0.1);
  EXPECT_DOUBLE_EQ(PruneConfig{}.dropout, -1);  // default: the model's own
  EXPECT_EQ(c.folder, "runs/out");
  // One T per round, the last one repeating.
  EXPECT_DOUBLE_EQ(c.threshold_for_round(1), 2.0);
  EXPECT_DOUBLE_EQ(c.threshold_for_round(3), 1.0);
  EXPECT_DOUBLE_EQ(c.threshold_for_round(7), 1.0);
  // Untouched keys keep their defaults.
  EXPECT_DOUBLE_EQ(c.max_ratio, 0.9);
  EXPECT_EQ(c.scan_samples, 2000);
}

TEST(PruneConfig, CommandLineOverridesTheFile) {
  PruneConfig c = parse_prune_config(kGood, "cfg.ini", {{"threshold", "0.5"}, {"out", "elsewhere"}, {"pruning.iterations", "2"}});
  EXPECT_EQ(c.thresholds, std::vector<double>({0.5}));
  EXPECT_EQ(c.folder, "elsewhere");
  EXPECT_EQ(c.iterations, 2);
  // No file at all: flags alone.
  PruneConfig d = parse_prune_config("", "<none>", {{"model", "m.model"}, {"mode", "uniform"}});
  EXPECT_EQ(d.model_path, "m.model");
  EXPECT_EQ(d.mode, "uniform");
}

TEST(PruneConfig, ErrorsNameFileLineAndKey) {
  std::string e = error_of("[model]\npath = a.model\n[pruning]\nthreshhold = 1\n");
  EXPECT_NE(e.find("cfg.ini:4"), std::string::npos) << e;
  EXPECT_NE(e.find("'threshhold'"), std::string::npos) << e;
  EXPECT_NE(e.find("threshold"), std::string::npos) << e;  // lists the known keys

  e = error_of("[model]\npath = a.model\n[prunning]\n");
  EXPECT_NE(e.find("cfg.ini:3"), std::string::npos) << e;
  EXPECT_NE(e.find("[prunning]"), std::string::npos) << e;

  e = error_of("[model]\npath = a.model\n\n[pruning]\nmax_ratio = lots\n");
  EXPECT_NE(e.find("cfg.ini:5: [pruning] max_ratio"), std::string::npos) << e;
  EXPECT_NE(e.find("'lots'"), std::string::npos) << e;

  e = error_of("[model]\npath = a.model\n[pruning]\nmax_ratio = 1.5\n");
  EXPECT_NE(e.find("cfg.ini:4: [pruning] max_ratio"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;

  e = error_of("[model]\npath = a.model\n[pruning]\nmode = fancy\n");
  EXPECT_NE(e.find("cfg.ini:4: [pruning] mode"), std::string::npos) << e;
  EXPECT_NE(e.find("t_sensitive"), std::string::npos) << e;

  e = error_of("[model]\npath = a.model\n[pruning]\ncriterion = magic\n");
  EXPECT_NE(e.find("mean_weight"), std::string::npos) << e;

  e = error_of("[model]\npath = a.model\n[finetune]\nepochs = 2\nepochs = 3\n");
  EXPECT_NE(e.find("cfg.ini:5"), std::string::npos) << e;
  EXPECT_NE(e.find("twice"), std::string::npos) << e;

  e = error_of("path = a.model\n");
  EXPECT_NE(e.find("cfg.ini:1"), std::string::npos) << e;

  e = error_of("[model]\npath\n");
  EXPECT_NE(e.find("cfg.ini:2"), std::string::npos) << e;

  e = error_of("[data]\nclasses = 0,2,2\n[model]\npath=a.model\n");
  EXPECT_NE(e.find("cfg.ini:2: [data] classes"), std::string::npos) << e;

  e = error_of("[data]\nclasses = 0,x\n");
  EXPECT_NE(e.find("cfg.ini:2: [data] classes"), std::string::npos) << e;

  e = error_of("[pruning]\nmode = uniform\n");
  EXPECT_NE(e.find("no model"), std::string::npos) << e;

  e = error_of(kGood, {{"round-to", "0"}});
  EXPECT_NE(e.find("command line --round-to"), std::string::npos) << e;

  e = error_of("[model]\npath = a.model\n[pruning]\nround = sideways\n");
  EXPECT_NE(e.find("cfg.ini:4: [pruning] round"), std::string::npos) << e;
  EXPECT_NE(e.find("nearest"), std::string::npos) << e;

  e = error_of("[model]\npath = a.model\n[finetune]\ndropout = 1\n");
  EXPECT_NE(e.find("cfg.ini:4: [finetune] dropout"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;

  e = error_of(kGood, {{"frobnicate", "1"}});
  EXPECT_NE(e.find("--frobnicate"), std::string::npos) << e;
}

TEST(PruneConfig, WrittenSettingsReadBackTheSame) {
  PruneConfig c = parse_prune_config(kGood, "cfg.ini", {{"final-epochs", "4"}, {"quiet", "yes"}});
  const std::string ini = config_to_ini(c);
  PruneConfig d = parse_prune_config(ini, "written.ini");
  EXPECT_EQ(config_to_ini(d), ini);
  EXPECT_EQ(d.final_epochs, 4);
  EXPECT_TRUE(d.quiet);
  EXPECT_EQ(d.thresholds, c.thresholds);
  EXPECT_EQ(d.classes, c.classes);
}

TEST(PruneConfig, EveryKeyHasAFlagAndHelp) {
  std::set<std::string> flags;
  for (const auto& k : prune_config_keys()) {
    EXPECT_FALSE(k.help.empty()) << k.key;
    EXPECT_TRUE(flags.insert(k.flag).second) << "flag --" << k.flag << " used twice";
  }
}

}  // namespace
}  // namespace trim
