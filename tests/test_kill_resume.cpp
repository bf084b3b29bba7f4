// No data lost: tools/train and tools/prune killed with SIGKILL at random points - inside an
// epoch, and in the middle of writing a checkpoint or a weight file - and restarted with
// --resume each time, end with exactly the weights of an uninterrupted run (one compute thread,
// fixed seed): model files bit-identical, the same per-epoch losses and accuracies. After every
// kill the model files already in the output folder still load.
//
// Kills inside an epoch wait for the run to write a checkpoint, then a random time (fixed seed). Kills
// inside a write are made certain rather than left to timing: the writer's temporary file
// (NAME.tmp, framework/file_io.cpp) is replaced by a FIFO before the run starts; the
// writer opens it, fills the pipe and blocks inside write_file_atomic, between its first byte
// and the rename, because every file cut this way is larger than a pipe holds. Then it is killed.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "temp_dir.h"
#include "test_tool_fixtures.h"

namespace trim {
namespace {

using namespace tool_test;

std::string tmp_of(const std::string& path, pid_t) { return temp_path_for(path); }

void leave_partial_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f) << path;
  std::fputs("TRIM partial bytes of a killed write", f);
  std::fclose(f);
}

// Temporary files (framework/file_io.h) anywhere below dir.
std::vector<std::string> leftover_temporaries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().string().size() > 4 && e.path().string().compare(e.path().string().size() - 4, 4, ".tmp") == 0)
      out.push_back(e.path().string());
  return out;
}

// Waits until the run writes one of `files` (FIFOs in place of their temporary files, made by
// the child before exec) and kills it mid-write; returns that file, or "" when the run ended
// without writing any of them.
std::string kill_inside_write(Child& c, const std::vector<std::string>& files, std::mt19937_64& rng) {
  std::vector<pollfd> fds;
  for (const auto& f : files) {
    int fd = -1;
    while ((fd = ::open(tmp_of(f, c.pid()).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENOENT &&
           !c.finished())
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    fds.push_back(pollfd{fd, POLLIN, 0});
  }
  std::string cut;
  while (cut.empty() && !c.finished()) {
    if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
    for (size_t i = 0; i < fds.size() && cut.empty(); ++i)
      if (fds[i].revents & POLLIN) {
        std::vector<char> buf(1 + rng() % 4096);  // let the writer get a little further
        ssize_t ignored = ::read(fds[i].fd, buf.data(), buf.size());
        (void)ignored;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ::kill(c.pid(), SIGKILL);
        cut = files[i];
      }
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].fd >= 0) ::close(fds[i].fd);
    // A real kill leaves a partial temporary file behind: put one in the FIFO's place, which the
    // next write of that file must replace (checked at the end: no .tmp file survives the runs).
    ::unlink(tmp_of(files[i], c.pid()).c_str());
    if (files[i] == cut) leave_partial_file(tmp_of(files[i], c.pid()));
  }
  return cut;
}

struct KillReport {
  int runs = 0, kills = 0, kills_in_write = 0, kills_with_checkpoint = 0;
  std::string schedule;
};

// The identity of a file's current contents (a rename puts a new inode in place).
std::string version_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

// Runs `args` (which carry --resume) again and again, killing each run in turn: inside a write
// of one of `checkpoints`, inside a write of one of `weights`, or - after the run has written a
// new checkpoint, so that every third run makes progress - a random time into the next epoch
// (below half an epoch of the uninterrupted run, ref_ms / epochs). After max_kills kills the
// next run is left to finish. after_kill checks the output folder after each kill. A run that
// starts while one of `checkpoints` exists resumes.
KillReport kill_until_done(const std::vector<std::string>& args, const std::vector<std::string>& checkpoints,
                           const std::vector<std::string>& weights, double ref_ms, int epochs, int max_kills,
                           const std::string& log, const std::function<void(const std::string&)>& after_kill) {
  KillReport r;
  std::mt19937_64 rng(2024);
  for (int attempt = 0;; ++attempt) {
    const int mode = attempt == max_kills ? -1 : (attempt + 1) % 3;  // -1: finish; 0: in an epoch; 1, 2: in a write
    const std::vector<std::string> cut_files = mode == 1 ? checkpoints : mode == 2 ? weights : std::vector<std::string>{};
    for (const auto& f : cut_files) std::filesystem::create_directories(std::filesystem::path(f).parent_path());
    bool had_checkpoint = false;
    std::vector<std::string> versions;
    for (const auto& f : checkpoints) {
      had_checkpoint = had_checkpoint || exists(f);
      versions.push_back(version_of(f));
    }
    Child c(args, log, [&] {
      for (const auto& f : cut_files) ::mkfifo(tmp_of(f, ::getpid()).c_str(), 0644);
    });
    EXPECT_TRUE(c.started());
    ++r.runs;
    std::string cut;
    if (mode == 0) {
      for (bool progressed = false; !progressed && !c.finished();) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        for (size_t i = 0; i < checkpoints.size(); ++i) progressed = progressed || version_of(checkpoints[i]) != versions[i];
      }
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::microseconds(static_cast<long>(rng() % uint64_t(ref_ms * 500 / epochs + 1)));
      while (std::chrono::steady_clock::now() < until && !c.finished())
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    } else if (mode > 0) {
      cut = kill_inside_write(c, cut_files, rng);
    }
    if (mode < 0 || (c.finished() && cut.empty() && !c.was_killed())) {
      EXPECT_TRUE(c.exited_ok()) << "run " << r.runs << " failed:\n" << slurp(log);
      r.schedule += " finished";
      return r;
    }
    c.kill();
    EXPECT_TRUE(c.was_killed()) << "run " << r.runs << " ended on its own with a failure:\n" << slurp(log);
    ++r.kills;
    if (!cut.empty()) ++r.kills_in_write;
    if (had_checkpoint) ++r.kills_with_checkpoint;
    r.schedule += cut.empty() ? " kill" : " kill-writing-" + std::filesystem::path(cut).parent_path().filename().string() +
                                              "/" + std::filesystem::path(cut).filename().string();
    after_kill(r.schedule);
  }
}

// The log columns that do not depend on interruptions (epoch, lr, losses, accuracies).
std::string log_without_timing(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string cell;
    for (int col = 0; col < 6 && std::getline(f, cell, ','); ++col) out += cell + ",";
    out += "\n";
  }
  return out;
}

std::string result_without_timing(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind("train_images_per_s", 0) != 0) out += line + "\n";
  return out;
}

double run_ms(const std::vector<std::string>& args, const std::string& log) {
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(run_tool(args, log), 0) << slurp(log);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void expect_same_file(const std::string& a, const std::string& b) {
  ASSERT_TRUE(exists(a)) << a;
  ASSERT_TRUE(exists(b)) << b;
  EXPECT_TRUE(slurp(a) == slurp(b)) << b << " differs from the uninterrupted run's " << a;
}

constexpr int kSize = 16;

class KillResume : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir / "data").c_str(), 0755), 0);
    write_idx_data(dir / "data", 1600, 200, kSize);
    write_tiny_model(dir / "tiny.model", kSize);
  }
  TempDir dir;
};

TEST_F(KillResume, TrainKilledAtRandomPointsEqualsUninterruptedRun) {
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{tool_path("train"), "--model", dir / "tiny.model", "--data", dir / "data",
                                    "--epochs", "5", "--batch", "32", "--lr", "0.05", "--threads", "1",
                                    "--workers", "1", "--seed", "3", "--out", out, "--resume"};
  };
  const std::string ref = dir / "ref", out = dir / "killed", log = dir / "log.txt";
  const double ref_ms = run_ms(args(ref), log);
  ASSERT_GT(slurp(ref + "/tiny-last.weights").size(), 128u << 10) << "files cut inside a write must outgrow a pipe";
  KillReport r = kill_until_done(args(out), {out + "/checkpoint.trim"}, {out + "/tiny-last.weights"}, ref_ms, 5, 12, log,
                                 [&](const std::string& s) {
                                   for (const char* m : {"/tiny.model", "/tiny-last.model"})
                                     if (exists(out + m)) {
                                       EXPECT_NO_THROW(load_model(out + m)) << out + m << " after" << s;
                                     }
                                 });
  std::printf("train: %d runs, %d kills (%d while writing a file, %d after a checkpoint existed):%s\n", r.runs, r.kills,
              r.kills_in_write, r.kills_with_checkpoint, r.schedule.c_str());
  SCOPED_TRACE("schedule:" + r.schedule);
  // Lower bounds that hold whatever the timing: a run killed in an epoch gets at most two epochs
  // further, so the first eight runs cannot finish the five epochs.
  EXPECT_GE(r.kills, 8);
  EXPECT_GE(r.kills_in_write, 6);
  EXPECT_GE(r.kills_with_checkpoint, 4);  // resumed from a checkpoint, not only restarted

  for (const char* f : {"/tiny.weights", "/tiny-last.weights", "/tiny.model", "/tiny.classes"})
    expect_same_file(ref + f, out + f);
  EXPECT_EQ(log_without_timing(slurp(ref + "/log.csv")), log_without_timing(slurp(out + "/log.csv")));
  EXPECT_EQ(result_without_timing(slurp(ref + "/result.txt")), result_without_timing(slurp(out + "/result.txt")));
  EXPECT_EQ(leftover_temporaries(out), std::vector<std::string>{});
}

TEST_F(KillResume, PruneKilledDuringFineTuningEqualsUninterruptedRun) {
  auto args = [&](const std::string& out) {
    write_file_atomic(dir / "cfg.ini",
                      "[model]\npath = " + dir / "tiny.model" + "\n[data]\ndata = " + dir / "data" +
                          "\nworkers = 1\n[pruning]\nmode = uniform\nratio = 0.25\nmin_channels = 2\niterations = 2\n"
                          "[finetune]\nepochs = 3\nfinal_epochs = 2\nlr = 0.02\nbatch = 32\n"
                          "[output]\nthreads = 1\nlatency_runs = 1\nquiet = 1\n");
    return std::vector<std::string>{tool_path("prune"), "--cfg", dir / "cfg.ini", "--out", out, "--resume"};
  };
  const std::string ref = dir / "ref", out = dir / "killed", log = dir / "log.txt";
  const double ref_ms = run_ms(args(ref), log);
  ASSERT_GT(slurp(ref + "/finetune-final/model-last.weights").size(), 80u << 10)
      << "files cut inside a write must outgrow a pipe";
  std::vector<std::string> checkpoints, weights;
  for (const char* phase : {"/finetune-round-1", "/finetune-round-2", "/finetune-final"}) {
    checkpoints.push_back(out + phase + "/checkpoint.trim");
    weights.push_back(out + phase + "/model-last.weights");
  }
  weights.push_back(out + "/round1.weights");
  KillReport r = kill_until_done(args(out), checkpoints, weights, ref_ms, 8, 9, log, [&](const std::string& s) {
    for (const char* m : {"/round1.model", "/round2.model"})
      if (exists(out + m)) {
        EXPECT_NO_THROW(load_model(out + m)) << out + m << " after" << s;
      }
  });
  std::printf("prune: %d runs, %d kills (%d while writing a file, %d after a checkpoint existed):%s\n", r.runs, r.kills,
              r.kills_in_write, r.kills_with_checkpoint, r.schedule.c_str());
  SCOPED_TRACE("schedule:" + r.schedule);
  EXPECT_GE(r.kills, 8);  // as for train: 8 fine-tuning epochs in all
  EXPECT_GE(r.kills_in_write, 6);
  EXPECT_GE(r.kills_with_checkpoint, 4);

  for (const char* f : {"/round1.weights", "/round2.weights", "/pruned.weights", "/pruned.model"})
    expect_same_file(ref + f, out + f);
  for (const char* f : {"/finetune-round-1/log.csv", "/finetune-round-2/log.csv", "/finetune-final/log.csv"})
    EXPECT_EQ(log_without_timing(slurp(ref + f)), log_without_timing(slurp(out + f))) << f;
  EXPECT_EQ(leftover_temporaries(out), std::vector<std::string>{});
}

}  // namespace
}  // namespace trim
