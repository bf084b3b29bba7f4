// Data-parallel training under `mpirun -np 2` on this machine (tools/train, distributed/):
//   - equivalence: 2 processes with global batch B end with the weights of 1 process with batch B
//     (synchronised batch norm, and a model without batch norm), to summation-order rounding;
//   - per-process batch norm: the weights of the same algorithm computed in one process;
//   - two 2-process runs with the same seed write bit-identical files;
//   - a process killed mid-epoch ends the job (non-zero, bounded time, the rank named), and
//     --resume from the last checkpoint finishes with the weights of an uninterrupted run;
//   - a stopped (alive, stuck) process ends the job through the stall watchdog;
//   - a bad data file on one process ends the job with that rank and the file named.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "datasets/batcher.h"
#include "datasets/data_spec.h"
#include "framework/loss.h"
#include "framework/model_file.h"
#include "framework/optimizer.h"
#include "temp_dir.h"
#include "test_distributed_fixtures.h"

namespace trim {
namespace {

using namespace tool_test;
using namespace mpi_test;

constexpr int kSize = 16;

// tiny_desc (conv, BN, ReLU, pool, conv, ReLU, linear, ReLU, dropout, linear) without the BN.
std::string no_bn_desc() {
  std::string d = tiny_desc(kSize);
  const std::string bn = "[batchnorm]\nname=bn1\n";
  d.erase(d.find(bn), bn.size());
  return d;
}

class DistributedTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { set_loopback_mpi_env(); }
  void SetUp() override {
    ASSERT_EQ(::mkdir((dir / "data").c_str(), 0755), 0);
    // 440 training images: 396 after the 10% validation split, so batch 24 leaves a last batch
    // of 12 (shared 6 + 6).
    write_idx_data(dir / "data", 440, 100, kSize);
    write_tiny_model(dir / "tiny.model", kSize);
    Model m = model_from_desc(no_bn_desc(), "nobn");
    m.init_params(7);
    save_model(m, dir / "nobn.model");
  }
  std::vector<std::string> train_args(const std::string& model, const std::string& out, int epochs = 2) {
    return {tool_path("train"), "--model", dir / model, "--data", dir / "data", "--epochs", std::to_string(epochs),
            "--batch", "24", "--lr", "0.05", "--threads", "1", "--workers", "1", "--seed", "5", "--out", out};
  }
  int run(const std::vector<std::string>& args, const std::string& log) { return run_tool(args, log); }
  TempDir dir;
};

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The log columns that do not depend on timing (epoch, lr, losses, accuracies).
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

// Summation order: one process sums each weight gradient over the whole batch inside one GEMM;
// two processes each sum half and MPI adds the halves, and the loss gradient is scaled by
// (share / batch) in float instead of divided by the batch. Each step differs by a few float
// roundings (~1e-7 relative); 34 momentum steps on a net with ReLU kinks and max-pool ties
// grow that, measured here to ~1e-5 (sync BN) and ~1e-6 (no BN) on the largest relative
// difference. 1e-3 leaves room for other machines' BLAS while staying far below what a wrong
// gradient scale (a factor of 2), a missing gradient sum or per-process statistics give (> 1e-2).
constexpr double kSameAsOneProcess = 1e-3;

TEST_F(DistributedTrain, TwoProcessesWithSyncBatchNormEqualOneProcess) {
  const std::string log = dir / "log.txt";
  ASSERT_EQ(run(train_args("tiny.model", dir / "one"), log), 0) << slurp(log);
  ASSERT_EQ(run(mpirun(2, plus(train_args("tiny.model", dir / "two"), {"--sync-bn"})), log), 0) << slurp(log);
  Model a = load_model(dir / "one/tiny-last.model"), b = load_model(dir / "two/tiny-last.model");
  WeightDiff d = weight_diff(a, b);
  std::printf("sync BN: max |diff| %.3g, max relative %.3g at %s\n", d.max_abs, d.max_rel, d.where.c_str());
  EXPECT_LT(d.max_rel, kSameAsOneProcess) << d.where;
  EXPECT_GT(d.max_abs, 0.0) << "bit-identical is not expected from a different summation order: is MPI in use?";
  // Per-process statistics are measurably different: the comparison can tell.
  ASSERT_EQ(run(mpirun(2, train_args("tiny.model", dir / "perrank")), log), 0) << slurp(log);
  Model c = load_model(dir / "perrank/tiny-last.model");
  EXPECT_GT(weight_diff(a, c).max_rel, 10 * kSameAsOneProcess);
  // Only rank 0 wrote the outputs, and the result names the processes.
  EXPECT_NE(slurp(dir / "two/result.txt").find("processes 2"), std::string::npos);
}

TEST_F(DistributedTrain, TwoProcessesWithoutBatchNormEqualOneProcess) {
  const std::string log = dir / "log.txt";
  ASSERT_EQ(run(train_args("nobn.model", dir / "one"), log), 0) << slurp(log);
  ASSERT_EQ(run(mpirun(2, train_args("nobn.model", dir / "two")), log), 0) << slurp(log);
  Model a = load_model(dir / "one/nobn-last.model"), b = load_model(dir / "two/nobn-last.model");
  WeightDiff d = weight_diff(a, b);
  std::printf("no BN: max |diff| %.3g, max relative %.3g at %s\n", d.max_abs, d.max_rel, d.where.c_str());
  EXPECT_LT(d.max_rel, kSameAsOneProcess) << d.where;
  // The epoch losses are those of the whole batch, not rank 0's half.
  std::ifstream la(dir / "one/log.csv"), lb(dir / "two/log.csv");
  std::string x, y;
  std::getline(la, x);
  std::getline(lb, y);
  for (int e = 0; e < 2; ++e) {
    ASSERT_TRUE(std::getline(la, x) && std::getline(lb, y));
    const double loss_a = std::stod(x.substr(x.find(',', x.find(',') + 1) + 1));
    const double loss_b = std::stod(y.substr(y.find(',', y.find(',') + 1) + 1));
    EXPECT_NEAR(loss_a, loss_b, 1e-3 * loss_a) << x << "\n" << y;
  }
}

// Per-process batch norm (the default) has no single-process counterpart with batch B: it is
// "ghost batch norm" with a ghost batch of each process's share. Its reference here is the same
// algorithm in one process: two model copies, each running forward and backward on one share,
// their gradients added, the same step applied to both, running statistics averaged at the end
// of the epoch.
TEST_F(DistributedTrain, PerProcessBatchNormIsGhostBatchNorm) {
  const std::string log = dir / "log.txt";
  ASSERT_EQ(run(mpirun(2, train_args("tiny.model", dir / "two", 1)), log), 0) << slurp(log);

  DataSpec ds;
  ds.data = dir / "data";
  ds.seed = 5;
  DataSplits3 data = open_data(ds);
  Model m[2] = {load_model(dir / "tiny.model"), load_model(dir / "tiny.model")};
  SgdOptions so;  // the tool's defaults: momentum 0.9, Nesterov, weight decay 5e-4
  Sgd sgd0(m[0], so), sgd1(m[1], so);
  Sgd* sgd[2] = {&sgd0, &sgd1};
  std::unique_ptr<Batcher> src[2] = {make_batcher(data.train, 24, true, 5, 0, 0, 2),
                                     make_batcher(data.train, 24, true, 5, 0, 1, 2)};
  LrSchedule sched;
  sched.base_lr = 0.05f;
  sched.epochs = 1;
  const size_t nb = src[0]->batches_per_epoch();
  for (auto& s : src) s->start_epoch(0);
  Workspace ws;
  std::mt19937_64 rng;
  Tensor x, dlogits;
  std::vector<int> y;
  for (size_t step = 0; step < nb; ++step) {
    const float lr = sched.at(static_cast<double>(step) / static_cast<double>(nb));
    for (int r = 0; r < 2; ++r) {
      ASSERT_TRUE(src[r]->next(x, y));
      Context ctx;
      ctx.mode = Mode::Train;
      ctx.workspace = &ws;
      ctx.rng = &rng;
      src[r]->share_of_last(ctx.batch_offset, ctx.global_batch);
      // The trainer's per-step dropout seed (framework/trainer.cpp step_seed).
      uint64_t z = 5 * 0x9e3779b97f4a7c15ULL ^ (uint64_t(0) << 32) ^ step;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      rng.seed(z ^ (z >> 31));
      softmax_cross_entropy(&dlogits, nullptr, m[r].forward(x, ctx), y);
      const float s = static_cast<float>(static_cast<double>(y.size()) / static_cast<double>(ctx.global_batch));
      for (size_t i = 0; i < dlogits.numel(); ++i) dlogits[i] *= s;
      m[r].zero_grad();
      m[r].backward(dlogits, ctx);
    }
    Tensor& g0 = m[0].grad_block();
    Tensor& g1 = m[1].grad_block();
    for (size_t i = 0; i < g0.numel(); ++i) g1[i] = g0[i] = g0[i] + g1[i];
    for (int r = 0; r < 2; ++r) sgd[r]->step(lr);
  }
  std::vector<NamedParam> p0 = m[0].params(), p1 = m[1].params();
  for (size_t i = 0; i < p0.size(); ++i)
    if (!p0[i].grad)
      for (size_t k = 0; k < p0[i].value->numel(); ++k)
        (*p0[i].value)[k] = static_cast<float>(((*p0[i].value)[k] + static_cast<double>((*p1[i].value)[k])) * 0.5);

  Model b = load_model(dir / "two/tiny-last.model");
  WeightDiff d = weight_diff(m[0], b);
  std::printf("per-process BN vs its one-process reference: max |diff| %.3g, max relative %.3g at %s\n", d.max_abs,
              d.max_rel, d.where.c_str());
  EXPECT_LT(d.max_rel, kSameAsOneProcess) << d.where;
}

TEST_F(DistributedTrain, TwoRunsWithTheSameSeedAreBitIdentical) {
  const std::string log = dir / "log.txt";
  for (const char* sync : {"", "--sync-bn"}) {
    std::vector<std::string> extra;
    if (*sync) extra.push_back(sync);
    const std::string a = dir / (std::string("a") + sync), b = dir / (std::string("b") + sync);
    ASSERT_EQ(run(mpirun(2, plus(train_args("tiny.model", a), extra)), log), 0) << slurp(log);
    ASSERT_EQ(run(mpirun(2, plus(train_args("tiny.model", b), extra)), log), 0) << slurp(log);
    for (const char* f : {"/tiny.weights", "/tiny-last.weights"})
      EXPECT_TRUE(slurp(a + f) == slurp(b + f)) << f << " " << sync;
    EXPECT_EQ(log_without_timing(slurp(a + "/log.csv")), log_without_timing(slurp(b + "/log.csv"))) << sync;
  }
}

// The processes mpirun started for a job (its children running the tool).
std::vector<pid_t> ranks_of(pid_t mpirun_pid, const std::string& exe_name) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(st, line)) continue;
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string comm = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == mpirun_pid && comm == exe_name) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

// A process that still runs (a zombie waiting for its parent to collect it does not).
bool alive(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line) || line.rfind(')') == std::string::npos) return false;
  const char state = line[line.rfind(')') + 2];
  return state != 'Z' && state != 'X';
}


// The MPI rank of a process mpirun started (its OMPI_COMM_WORLD_RANK), -1 if unknown.
int rank_of(pid_t pid) {
  const std::string env = slurp("/proc/" + std::to_string(pid) + "/environ");
  const std::string key = std::string("OMPI_COMM_WORLD_RANK=");
  for (size_t pos = 0; pos < env.size(); pos = env.find('\0', pos) + 1) {
    if (env.compare(pos, key.size(), key) == 0) return std::atoi(env.c_str() + pos + key.size());
    if (env.find('\0', pos) == std::string::npos) break;
  }
  return -1;
}

// The process of rank r in the job of mpirun_pid (0 if not found).
pid_t process_of_rank(pid_t mpirun_pid, int r, std::vector<pid_t>* all = nullptr) {
  std::vector<pid_t> ranks = ranks_of(mpirun_pid, "train");
  if (all) *all = ranks;
  for (pid_t p : ranks)
    if (rank_of(p) == r) return p;
  return 0;
}

// Waits for the job to end; returns its wait status, or -1 after `limit` (the job hung).
int wait_bounded(Child& c, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!c.finished()) {
    if (std::chrono::steady_clock::now() > until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return c.wait();
}

TEST_F(DistributedTrain, KilledProcessEndsTheJobAndResumeFinishes) {
  const std::string log = dir / "log.txt", kill_log = dir / "kill.txt";
  // 1800 images: epochs long enough (~0.5 s) for the kill to land inside one.
  ASSERT_EQ(::mkdir((dir / "big").c_str(), 0755), 0);
  write_idx_data(dir / "big", 1800, 100, kSize);
  auto args = [&](const std::string& out) {
    std::vector<std::string> a = train_args("tiny.model", out, 4);
    a[4] = dir / "big";
    a.push_back("--resume");
    return mpirun(2, a);
  };
  ASSERT_EQ(run(args(dir / "ref"), log), 0) << slurp(log);

  const std::string out = dir / "killed";
  Child c(args(out), kill_log);
  ASSERT_TRUE(c.started());
  // After the first checkpoint, a moment into the second epoch, kill rank 1.
  while (!exists(out + "/checkpoint.trim") && !c.finished()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_FALSE(c.finished()) << slurp(kill_log);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  std::vector<pid_t> ranks;
  const pid_t victim = process_of_rank(c.pid(), 1, &ranks);
  ASSERT_EQ(ranks.size(), 2u);
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto t0 = std::chrono::steady_clock::now();
  const int st = wait_bounded(c, std::chrono::seconds(60));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_NE(st, -1) << "the job did not end within 60 s of a process dying:\n" << slurp(kill_log);
  EXPECT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(kill_log);
  EXPECT_NE(slurp(kill_log).find("process rank 1"), std::string::npos) << slurp(kill_log);
  EXPECT_NE(slurp(kill_log).find("exited on signal 9"), std::string::npos) << slurp(kill_log);
  std::printf("job ended %.2f s after a process was killed\n", secs);
  for (pid_t p : ranks) {
    for (int i = 0; i < 250 && alive(p); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(alive(p)) << "process " << p << " outlived its job by 5 s";
  }
  // The last checkpoint loads and the resumed run ends where the uninterrupted one did.
  EXPECT_NO_THROW(load_model(out + "/tiny-last.model"));
  ASSERT_EQ(run(args(out), log), 0) << slurp(log);
  for (const char* f : {"/tiny.weights", "/tiny-last.weights"})
    EXPECT_TRUE(slurp(dir / "ref" + std::string(f)) == slurp(out + f)) << f;
}

TEST_F(DistributedTrain, StalledProcessEndsTheJobThroughTheWatchdog) {
  const std::string log = dir / "stall.txt";
  ::setenv("TRIM_MPI_TIMEOUT", "3", 1);
  ASSERT_EQ(::mkdir((dir / "big").c_str(), 0755), 0);
  write_idx_data(dir / "big", 1800, 100, kSize);
  std::vector<std::string> a = train_args("tiny.model", dir / "out", 20);
  a[4] = dir / "big";
  Child c(mpirun(2, a), log);
  ::unsetenv("TRIM_MPI_TIMEOUT");
  ASSERT_TRUE(c.started());
  while (!exists(dir / "out/checkpoint.trim") && !c.finished()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_FALSE(c.finished()) << slurp(log);
  std::vector<pid_t> ranks;
  const pid_t victim = process_of_rank(c.pid(), 1, &ranks);
  ASSERT_EQ(ranks.size(), 2u);
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGSTOP), 0);  // alive but stuck: MPI's failure detection sees nothing
  const int st = wait_bounded(c, std::chrono::seconds(60));
  for (pid_t p : ranks)
    if (alive(p)) ::kill(p, SIGKILL);  // never leave a stopped process behind
  ASSERT_NE(st, -1) << "the job did not end within 60 s of a process stalling:\n" << slurp(log);
  EXPECT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(log);
  EXPECT_NE(slurp(log).find("without progress"), std::string::npos) << slurp(log);
  EXPECT_NE(slurp(log).find("rank 0 of 2: waited"), std::string::npos) << slurp(log);
}

TEST_F(DistributedTrain, BadDataOnOneProcessEndsTheJobNamingTheRank) {
  const std::string log = dir / "bad.txt";
  // Rank 1 gets another data folder (as another machine would have its own copy): first a
  // truncated image file, then a complete data set of a different size.
  ASSERT_EQ(::mkdir((dir / "bad").c_str(), 0755), 0);
  write_idx_data(dir / "bad", 440, 100, kSize);
  const std::string images = dir / "bad/train-images-idx3-ubyte";
  const std::string bytes = slurp(images);
  write_file_atomic(images, bytes.substr(0, bytes.size() / 2));
  auto job = [&](const std::string& rank1_data) {
    std::vector<std::string> a = {TRIM_MPIEXEC, "--oversubscribe", "-np", "1"};
    for (const auto& s : train_args("tiny.model", dir / "out")) a.push_back(s);
    a.push_back(":");
    a.push_back("-np");
    a.push_back("1");
    std::vector<std::string> b = train_args("tiny.model", dir / "out");
    b[4] = rank1_data;
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  Child c(job(dir / "bad"), log);
  int st = wait_bounded(c, std::chrono::seconds(60));
  ASSERT_NE(st, -1) << slurp(log);
  EXPECT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(log);
  EXPECT_NE(slurp(log).find("train: error: rank 1 of 2: "), std::string::npos) << slurp(log);
  EXPECT_NE(slurp(log).find("train-images-idx3-ubyte"), std::string::npos) << slurp(log);

  write_idx_data(dir / "bad", 600, 100, kSize);
  const std::string log2 = dir / "bad2.txt";
  Child c2(job(dir / "bad"), log2);
  st = wait_bounded(c2, std::chrono::seconds(60));
  ASSERT_NE(st, -1) << slurp(log2);
  EXPECT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(log2);
  EXPECT_NE(slurp(log2).find("each machine must read the same data set"), std::string::npos) << slurp(log2);
}

}  // namespace
}  // namespace trim
