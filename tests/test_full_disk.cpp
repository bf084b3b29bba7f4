// A full disk or an unwritable output folder: the user gets an error naming the file and the
// reason, the previous checkpoint stays byte for byte what it was, and a later --resume
// continues from it to the same weights an undisturbed run reaches.
//
// Tests run as root, for whom permissions stop nothing, so the failures are made another way:
//   full disk    the writer's temporary file (NAME.tmp) is a symlink to /dev/full, where
//                every write fails with ENOSPC;
//   unwritable   the temporary file's name is taken by a folder (EISDIR), or the output folder's
//                parent is a regular file (ENOTDIR).
#include <sys/stat.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "temp_dir.h"
#include "test_tool_fixtures.h"

namespace trim {
namespace {

using namespace tool_test;

constexpr int kSize = 12;

// The writer's temporary file (framework/file_io.h); the pid no longer enters its name.
std::string tmp_name(const std::string& path, pid_t) { return temp_path_for(path); }

TEST(FullDisk, AtomicWriteToAFullDiskKeepsThePreviousFile) {
  TempDir d;
  const std::string path = d / "checkpoint.trim";
  write_file_atomic(path, "previous checkpoint");
  ASSERT_EQ(::symlink("/dev/full", tmp_name(path, ::getpid()).c_str()), 0);
  try {
    write_file_atomic(path, std::string(1 << 16, 'x'));
    FAIL() << "writing through /dev/full succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": write failed (No space left on device)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("previous file is untouched"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(path), "previous checkpoint");
  EXPECT_FALSE(exists(tmp_name(path, ::getpid()))) << "the failed temporary file is left behind";
}

TEST(FullDisk, AtomicWriteIntoAnUnwritablePlaceKeepsThePreviousFile) {
  TempDir d;
  const std::string path = d / "model.weights";
  write_file_atomic(path, "previous weights");
  ASSERT_EQ(::mkdir(tmp_name(path, ::getpid()).c_str(), 0755), 0);
  try {
    write_file_atomic(path, "new weights");
    FAIL() << "writing over a folder succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": cannot write (Is a directory)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(path), "previous weights");

  write_file_atomic(d / "file", "a regular file");
  try {
    write_file_atomic(d / "file/model.weights", "weights");
    FAIL() << "writing below a regular file succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("file/model.weights: cannot write (Not a directory)"), std::string::npos)
        << e.what();
  }
}

class FullDiskTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir / "data").c_str(), 0755), 0);
    write_idx_data(dir / "data", 600, 100, kSize);
    write_tiny_model(dir / "tiny.model", kSize);
  }
  std::vector<std::string> args(const std::string& out) const {
    return {tool_path("train"), "--model", dir / "tiny.model", "--data", dir / "data", "--epochs", "3",
            "--batch", "32", "--lr", "0.05", "--threads", "1", "--workers", "1", "--seed", "5", "--out", out,
            "--resume"};
  }
  TempDir dir;
};

TEST_F(FullDiskTrain, ToolReportsTheFullDiskKeepsTheCheckpointAndResumes) {
  const std::string ref = dir / "ref", out = dir / "out", log = dir / "log.txt";
  ASSERT_EQ(run_tool(args(ref), log), 0) << slurp(log);

  // Run 1: the disk fills up once the first checkpoint is on disk.
  const std::string ckpt = out + "/checkpoint.trim";
  std::string before;
  {
    Child c(args(out), log);
    while (!exists(ckpt) && !c.finished()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    ASSERT_TRUE(exists(ckpt)) << slurp(log);
    ASSERT_EQ(::symlink("/dev/full", tmp_name(ckpt, c.pid()).c_str()), 0)
        << "the run wrote its next checkpoint before the disk could fill up";
    before = slurp(ckpt);
    const int st = c.wait();
    ASSERT_TRUE(WIFEXITED(st)) << slurp(log);
    EXPECT_EQ(WEXITSTATUS(st), 1) << slurp(log);
  }
  const std::string said = slurp(log);
  EXPECT_NE(said.find("train: error: " + ckpt + ": write failed (No space left on device); the previous file is untouched"),
            std::string::npos)
      << said;
  EXPECT_EQ(slurp(ckpt), before);
  EXPECT_NO_THROW(load_model(out + "/tiny-last.model"));

  // Run 2: the checkpoint's temporary name is taken by a folder (an unwritable place).
  ASSERT_EQ(::truncate(log.c_str(), 0), 0);
  {
    Child c(args(out), log, [&] { ::mkdir(tmp_name(ckpt, ::getpid()).c_str(), 0755); });
    const int st = c.wait();
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 1) << slurp(log);
  }
  EXPECT_NE(slurp(log).find(ckpt + ": cannot write (Is a directory)"), std::string::npos) << slurp(log);
  EXPECT_EQ(slurp(ckpt), before);

  // Run 3: room again (the folder in the temporary file's way removed); --resume continues from
  // the kept checkpoint to the undisturbed result.
  ASSERT_EQ(::rmdir(tmp_name(ckpt, 0).c_str()), 0);
  ASSERT_EQ(run_tool(args(out), log), 0) << slurp(log);
  for (const char* f : {"/tiny.weights", "/tiny-last.weights"})
    EXPECT_TRUE(slurp(ref + f) == slurp(out + f)) << f << " differs from the undisturbed run's";
}

TEST_F(FullDiskTrain, ToolRefusesAnOutputFolderBelowARegularFile) {
  const std::string log = dir / "log.txt";
  write_file_atomic(dir / "notafolder", "x");
  EXPECT_EQ(run_tool(args(dir / "notafolder/run"), log), 1);
  EXPECT_NE(slurp(log).find("train: error: " + dir.path() + "/notafolder/run/: cannot create output folder (Not a directory)"),
            std::string::npos)
      << slurp(log);
}

}  // namespace
}  // namespace trim
