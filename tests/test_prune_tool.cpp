// tools/prune end to end: a tiny model trained on a tiny IDX data set written by the test, pruned
// by the bin/prune program through a config file; and the program's errors for bad configs.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "datasets/data_spec.h"
#include "framework/model_file.h"
#include "framework/trainer.h"
#include "tests/test_prune_fixtures.h"

namespace trim {
namespace {

using namespace prune_test;

const std::string kProgram = std::string(TRIM_BINARY_DIR) + "/bin/prune";

// Big-endian IDX files: images (magic 0x803) and labels (0x801); class c has a bright band at
// columns 2c and 2c+1.
void write_idx(const std::string& dir, const std::string& prefix, int n, uint64_t seed) {
  auto be32 = [](std::string& s, uint32_t v) {
    for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  };
  std::string img, lab;
  be32(img, 0x803);
  be32(img, static_cast<uint32_t>(n));
  be32(img, 8);
  be32(img, 8);
  be32(lab, 0x801);
  be32(lab, static_cast<uint32_t>(n));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> noise(0, 110);
  for (int i = 0; i < n; ++i) {
    const int y = i % 3;
    lab.push_back(static_cast<char>(y));
    for (int h = 0; h < 8; ++h)
      for (int w = 0; w < 8; ++w) img.push_back(static_cast<char>(noise(rng) + (w / 2 == y ? 140 : 0)));
  }
  write_file_atomic(dir + "/" + prefix + "-images-idx3-ubyte", img);
  write_file_atomic(dir + "/" + prefix + "-labels-idx1-ubyte", lab);
}

struct ToolRun {
  int status;
  std::string output;
};

ToolRun run_prune(const std::string& args) {
  const std::string cmd = "OMP_NUM_THREADS=1 '" + kProgram + "' " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw Error("cannot run " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class PruneToolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(std::filesystem::exists(kProgram)) << kProgram << " is missing: build the 'prune' target first";
    dir_ = new std::string(temp_dir("prune_tool"));
    write_idx(*dir_, "train", 450, 1);
    write_idx(*dir_, "t10k", 150, 2);
    // A model of the first three Fashion-MNIST classes (the data set's class names), trained on
    // the same split the tool will use (val_fraction 0.2, seed 1).
    DataSpec ds;
    ds.data = *dir_;
    ds.classes = {0, 1, 2};
    ds.val_fraction = 0.2;
    DataSplits3 d = open_data(ds);
    std::string desc = vgg_desc(3);
    desc.replace(desc.find("filters=8"), 9, "filters=16");
    Model m = model_from_desc(desc, "tiny");
    m.init_params(2);
    m.class_names = d.train->class_names();
    auto src = make_batcher(d.train, 30, true, 1, 0);
    TrainOptions t;
    t.schedule.epochs = 3;
    t.progress = false;
    train(m, *src, nullptr, t);
    save_model(m, *dir_ + "/tiny.model");
  }
  static void TearDownTestSuite() { delete dir_; }

  std::string write_cfg(const std::string& name, const std::string& text) {
    const std::string p = *dir_ + "/" + name;
    write_file_atomic(p, text);
    return p;
  }
  std::string base_cfg() {
    return "[model]\npath = " + *dir_ + "/tiny.model\n[data]\ndata = " + *dir_ +
           "\nval_fraction = 0.2\nworkers = 0\n[pruning]\nthreshold = 3\nmin_channels = 2\niterations = 2\n"
           "ratios = 0.25, 0.5, 0.75\nscan_samples = 60\n[finetune]\nepochs = 1\n[output]\nfolder = " +
           *dir_ + "/out\nlatency_runs = 5\nthreads = 1\n";
  }
  static std::string* dir_;
};
std::string* PruneToolTest::dir_ = nullptr;

TEST_F(PruneToolTest, PrunesThroughAConfigFile) {
  const std::string cfg = write_cfg("good.ini", base_cfg());
  // No [data] classes: the tool finds the model's three classes by name in the data set.
  ToolRun r = run_prune("--cfg '" + cfg + "' --quiet 1 --iterations 1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("pruned model:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| dense |"), std::string::npos) << r.output;
  Model dense = load_model(*dir_ + "/tiny.model");
  Model p = load_model(*dir_ + "/out/pruned.model");
  EXPECT_EQ(p.class_names, dense.class_names);
  EXPECT_EQ(p.classes(), 3);
  // The command line overrode the file: one round.
  EXPECT_NE(read_file(*dir_ + "/out/config.ini").find("iterations = 1"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(*dir_ + "/out/scan_round1.svg"));
  EXPECT_FALSE(std::filesystem::exists(*dir_ + "/out/scan_round2.svg"));
}

TEST_F(PruneToolTest, AnalyzeListsGroups) {
  ToolRun r = run_prune("--model '" + *dir_ + "/tiny.model' --analyze");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("3 prunable layers"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'fc2' is not prunable"), std::string::npos) << r.output;
}

TEST_F(PruneToolTest, BadConfigsNameFileLineAndKey) {
  std::string text = base_cfg();
  text.replace(text.find("threshold = 3"), 13, "threshold = many");
  const std::string bad_value = write_cfg("bad_value.ini", text);
  ToolRun r = run_prune("--cfg '" + bad_value + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("bad_value.ini:8: [pruning] threshold: bad value 'many'"), std::string::npos) << r.output;

  const std::string bad_key = write_cfg("bad_key.ini", "[model]\npath = x.model\n[finetune]\nepoch = 2\n");
  r = run_prune("--cfg '" + bad_key + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("bad_key.ini:4: unknown key 'epoch' in [finetune]"), std::string::npos) << r.output;

  const std::string bad_section = write_cfg("bad_section.ini", "[model]\npath = x.model\n[train]\n");
  r = run_prune("--cfg '" + bad_section + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("bad_section.ini:3: unknown section [train]"), std::string::npos) << r.output;

  r = run_prune("--cfg '" + write_cfg("ok.ini", base_cfg()) + "' --max-ratio 2");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("command line --max-ratio"), std::string::npos) << r.output;

  r = run_prune("--cfg '" + *dir_ + "/missing.ini'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("missing.ini"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace trim
