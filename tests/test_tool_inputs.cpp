// The tools against bad input (issue 13): out-of-range and non-finite numbers, thread counts
// that would break OpenMP, stray arguments, outputs that would replace the input, and a model's
// class names against the data set's. Each must end with a clear error naming the option or
// key and a non-zero exit, and leave the input untouched.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <zlib.h>

#include <filesystem>

#include "datasets/data_spec.h"
#include "temp_dir.h"
#include "test_tool_fixtures.h"

namespace trim {
namespace {

using namespace tool_test;

constexpr int kSize = 12;

class ToolInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir / "data").c_str(), 0755), 0);
    write_idx_data(dir / "data", 200, 50, kSize);
    std::filesystem::create_directories(dir / "runs/tiny");
    write_tiny_model(dir / "runs/tiny/tiny.model", kSize);
  }
  // Runs the tool in `dir` (relative outputs land there); returns the exit status, log in said.
  int run(const std::string& tool, std::vector<std::string> args) {
    args.insert(args.begin(), tool_path(tool));
    const std::string log = dir / "log.txt";
    ::truncate(log.c_str(), 0);
    Child c(args, log, [this] { (void)::chdir(dir.path().c_str()); });
    const int st = c.wait();
    said = slurp(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  void expect_error(const std::string& tool, const std::vector<std::string>& args, const std::string& message) {
    std::string cmd = tool;
    for (const auto& a : args) cmd += " " + a;
    const int rc = run(tool, args);
    EXPECT_NE(rc, 0) << cmd << "\n" << said;
    EXPECT_GT(rc, 0) << cmd << " died of a signal\n" << said;
    EXPECT_NE(said.find(message), std::string::npos) << cmd << "\nexpected: " << message << "\ngot:\n" << said;
  }
  std::vector<std::string> train_args(std::vector<std::string> extra) {
    std::vector<std::string> a = {"--model", "runs/tiny/tiny.model", "--data", "data", "--epochs", "1", "--threads",
                                  "1", "--workers", "1", "--quiet"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  TempDir dir;
  std::string said;
};

TEST_F(ToolInputs, ThreadCountsAreCheckedBeforeAnythingRuns) {
  expect_error("train", train_args({"--threads", "100000"}), "option --threads: 100000 is out of range [0, 256]");
  expect_error("train", train_args({"--threads", "-1"}), "option --threads: -1 is out of range");
  expect_error("train", train_args({"--workers", "1000"}), "option --workers: 1000 is out of range [0, 64]");
  expect_error("eval", {"--model", "runs/tiny/tiny.model", "--data", "data", "--threads", "99999999999"},
               "option --threads: 99999999999 is out of range [0, 256]");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "--data", "data", "--threads", "5000"},
               "command line --threads: 5000 is out of range [0, 256]");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "--data", "data", "--latency-threads", "0"},
               "command line --latency-threads: 0 is out of range [1, 256]");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "--data", "data", "--workers", "65"},
               "command line --workers: 65 is out of range [0, 64]");
}

TEST_F(ToolInputs, NumbersOutOfRangeOrNotFiniteAreRefusedNamingTheOption) {
  expect_error("train", train_args({"--wd", "-1"}), "option --wd: -1 is out of range [0, 1]");
  expect_error("train", train_args({"--gamma", "-0.5"}), "option --gamma: -0.5 is out of range (0, 1]");
  expect_error("train", train_args({"--momentum", "1.5"}), "option --momentum: 1.5 is out of range [0, 1)");
  expect_error("train", train_args({"--momentum", "nan"}), "option --momentum: bad value 'nan'");
  expect_error("train", train_args({"--lr", "inf"}), "option --lr: bad value 'inf'");
  expect_error("train", train_args({"--lr", "0"}), "option --lr: 0 is out of range (0, 10]");
  expect_error("train", train_args({"--val-fraction", "-0.1"}), "option --val-fraction: -0.1 is out of range [0, 1)");
  expect_error("train", train_args({"--warmup", "2"}), "warmup (2 epochs) must be shorter than the 1 epochs");
  expect_error("train", train_args({"--schedule", "step", "--epochs", "4", "--milestones", "3,2"}), "milestones must rise");
  expect_error("train", train_args({"--nesterov", "maybe"}), "option --nesterov: bad value 'maybe'");
  expect_error("train", train_args({"--strict=perhaps"}), "option --strict: bad value 'perhaps'");
  expect_error("train", train_args({"--batch", "0"}), "option --batch: 0 is out of range [1, 65536]");
  expect_error("eval", {"--model", "runs/tiny/tiny.model", "--data", "data", "--val-fraction", "1"},
               "option --val-fraction: 1 is out of range [0, 1)");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "--data", "data", "--wd", "-1"},
               "command line --wd: -1 is out of range [0, 1]");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "--data", "data", "--gamma", "nan"},
               "command line --gamma: bad value 'nan'");
  write_file_atomic(dir / "cfg.ini", "[model]\npath = runs/tiny/tiny.model\n[finetune]\nmomentum = 2\n");
  expect_error("prune", {"--cfg", "cfg.ini"}, "cfg.ini:4: [finetune] momentum: 2 is out of range [0, 1)");
  write_file_atomic(dir / "cfg.ini", "[model]\npath = runs/tiny/tiny.model\n[finetune]\nschedule = step\nmilestones = 9\n");
  expect_error("prune", {"--cfg", "cfg.ini"}, "cfg.ini [finetune]: milestone 9 is not inside the 3 epochs");
  write_file_atomic(dir / "cfg.ini", "[model]\npath = runs/tiny/tiny.model\n[output]\nthreads = 100000\n");
  expect_error("prune", {"--cfg", "cfg.ini"}, "cfg.ini:4: [output] threads: 100000 is out of range [0, 256]");
}

TEST_F(ToolInputs, StrayArgumentsAreErrors) {
  expect_error("train", train_args({"extra"}), "unexpected argument 'extra'");
  expect_error("train", train_args({"-threads", "2"}), "unexpected argument '-threads'");
  expect_error("eval", {"--model", "runs/tiny/tiny.model", "stray"}, "unexpected argument 'stray'");
  expect_error("export_images", {"--out", "x", "stray"}, "unexpected argument 'stray'");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "stray"}, "unexpected argument 'stray'");
}

TEST_F(ToolInputs, FineTuningNeverWritesOverTheModelItStartsFrom) {
  const std::string before = slurp(dir / "runs/tiny/tiny.weights");
  // The default output of a model file is beside its run, not inside it.
  ASSERT_EQ(run("train", train_args({})), 0) << said;
  EXPECT_EQ(slurp(dir / "runs/tiny/tiny.weights"), before);
  EXPECT_TRUE(exists(dir / "runs/tiny-finetune/tiny.model")) << said;
  // Outputs that are the input, however spelled, are refused before training.
  for (const std::string& out : std::vector<std::string>{"runs/tiny", "runs/tiny/", "runs/../runs/tiny", dir / "runs/./tiny"})
    expect_error("train", train_args({"--out", out}), "refusing to write over it");
  ::link((dir / "runs/tiny/tiny.weights").c_str(), (dir / "hard.weights").c_str());
  std::filesystem::create_directories(dir / "other");
  ::link((dir / "runs/tiny/tiny.weights").c_str(), (dir / "other/tiny.weights").c_str());
  expect_error("train", train_args({"--out", "other"}), "refusing to write over it");  // a hard link
  // Fine-tuning the fine-tuned model again: its default output is itself.
  expect_error("train", {"--model", "runs/tiny-finetune/tiny.model", "--data", "data", "--epochs", "1"},
               "refusing to write over it");
  EXPECT_EQ(slurp(dir / "runs/tiny/tiny.weights"), before);
  expect_error("train", train_args({"--out", ""}), "option --out is empty");
  expect_error("train", train_args({"--out", "/"}), "is the file system root");
}

TEST_F(ToolInputs, PruneRefusesAnOutputFolderHoldingItsInput) {
  const std::string before = slurp(dir / "runs/tiny/tiny.weights");
  for (const std::string& out : std::vector<std::string>{"runs/tiny", "runs/../runs/tiny/", dir / "runs/tiny"})
    expect_error("prune", {"--model", "runs/tiny/tiny.model", "--data", "data", "--out", out, "--epochs", "0"},
                 "holds the input model");
  std::filesystem::create_directories(dir / "p/finetune-round-1");
  write_tiny_model(dir / "p/finetune-round-1/model.model", kSize);
  expect_error("prune", {"--model", "p/finetune-round-1/model.model", "--data", "data", "--out", "p"},
               "holds the input model");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "--out", ""}, "empty output folder");
  expect_error("prune", {"--model", "runs/tiny/tiny.model", "--out", "//"}, "is the file system root");
  EXPECT_EQ(slurp(dir / "runs/tiny/tiny.weights"), before);
}

TEST_F(ToolInputs, ExportImagesRefusesANonEmptyFolder) {
  std::filesystem::create_directories(dir / "full");
  write_file_atomic(dir / "full/keep.txt", "mine");
  expect_error("export_images",
               {"--images", "data/t10k-images-idx3-ubyte", "--labels", "data/t10k-labels-idx1-ubyte", "--out", "full"},
               "full: already holds files");
  EXPECT_EQ(slurp(dir / "full/keep.txt"), "mine");
  expect_error("export_images", {"--out", ""}, "option --out is empty");
  ASSERT_EQ(run("export_images", {"--images", "data/t10k-images-idx3-ubyte", "--labels", "data/t10k-labels-idx1-ubyte",
                                  "--out", "fresh", "--limit", "1"}),
            0)
      << said;
}

TEST_F(ToolInputs, EvalPicksTheModelsClassesByNameAndRefusesContradictions) {
  // A 3-class model of classes 0, 2 and 6, named as the data set names them.
  const std::vector<std::string> all = open_data([&] { DataSpec s; s.data = dir / "data"; return s; }()).train->class_names();
  Model m = model_from_desc(tiny_desc(kSize).replace(tiny_desc(kSize).rfind("out=10"), 6, "out=3"), "three");
  m.init_params(3);
  m.class_names = {all[0], all[2], all[6]};
  save_model(m, dir / "three.model");
  ASSERT_EQ(run("eval", {"--model", "three.model", "--data", "data", "--threads", "1"}), 0) << said;
  EXPECT_NE(said.find(all[6]), std::string::npos) << said;  // the per-class table names the model's classes
  EXPECT_EQ(said.find(all[1]), std::string::npos) << said;
  ASSERT_EQ(run("eval", {"--model", "three.model", "--data", "data", "--classes", "0,2,6", "--threads", "1"}), 0) << said;
  expect_error("eval", {"--model", "three.model", "--data", "data", "--classes", "6,2,0"},
               "--classes 6,2,0 picks '" + all[6] + "', '" + all[2] + "', '" + all[0] + "' but three.model was trained on");
  expect_error("eval", {"--model", "three.model", "--data", "data", "--classes", "0,2,5"}, "(classes 0,2,6)");
  // The same check in train (from a model file) and in prune.
  expect_error("train", {"--model", "three.model", "--data", "data", "--classes", "6,2,0", "--out", "t"}, "picks");
  expect_error("prune", {"--model", "three.model", "--data", "data", "--classes", "6,2,0", "--out", "p"}, "picks");
  // A class the data set does not have.
  m.class_names = {all[0], all[2], "no such class"};
  save_model(m, dir / "three.model");
  expect_error("eval", {"--model", "three.model", "--data", "data"}, "class 'no such class' of the model is not a class");
  // Without names: --classes as given, and the count must fit.
  m.class_names.clear();
  save_model(m, dir / "three.model");
  expect_error("eval", {"--model", "three.model", "--data", "data"}, "has 3 outputs but the data set has 10 classes");
  ASSERT_EQ(run("eval", {"--model", "three.model", "--data", "data", "--classes", "6,2,0", "--threads", "1"}), 0) << said;
}

// checkpoint.trim: magic, then blobs (u64 length + bytes) of description, weights and velocity,
// then the u64 counters (epochs done, best epoch), ... and a CRC-32 of all before it.
size_t offset_of_epochs_done(const std::string& b) {
  size_t pos = 8;
  for (int blob = 0; blob < 3; ++blob) {
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(b[pos + i])) << (8 * i);
    pos += 8 + n;
  }
  return pos;
}

void reseal(std::string& b) {  // recompute the trailing CRC-32 after an edit
  b.resize(b.size() - 4);
  uint32_t crc = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(b.data()),
                                             static_cast<uInt>(b.size())));
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
}

TEST_F(ToolInputs, DamagedCheckpointsAreRefusedOnResume) {
  auto args = [&] { return train_args({"--epochs", "2", "--out", "ck", "--resume"}); };
  ASSERT_EQ(run("train", args()), 0) << said;
  const std::string path = dir / "ck/checkpoint.trim", good = slurp(path);
  const size_t counters = offset_of_epochs_done(good);
  ASSERT_LT(counters + 16, good.size());
  // One flipped bit anywhere (here: inside the optimizer state, which the weights' own checksum
  // did not cover) is a checksum error.
  std::string bad = good;
  bad[counters - 5] ^= 0x10;
  write_file_atomic(path, bad);
  expect_error("train", args(), "ck/checkpoint.trim: checksum mismatch");
  // Counters that do not fit the run, with a valid checksum.
  bad = good;
  bad[counters] = 99;
  reseal(bad);
  write_file_atomic(path, bad);
  expect_error("train", args(), "checkpoint is after epoch 99 but this run has 2 epochs");
  bad = good;
  bad[counters] = 1;  // one epoch done, but two history lines and a best epoch maybe 2
  reseal(bad);
  write_file_atomic(path, bad);
  expect_error("train", args(), "ck/checkpoint.trim: ");
  // A non-finite optimizer state.
  bad = good;
  for (int i = 0; i < 4; ++i) bad[counters - 4 + i] = "\x00\x00\xc0\x7f"[i];  // last velocity float = NaN
  reseal(bad);
  write_file_atomic(path, bad);
  expect_error("train", args(), "optimizer state element");
  write_file_atomic(path, good);
  ASSERT_EQ(run("train", args()), 0) << said;  // the intact checkpoint resumes (nothing left to do)
}

}  // namespace
}  // namespace trim
