// Shared by the tests that run the tools as separate processes and interrupt them
// (tests/test_kill_resume.cpp, tests/test_full_disk.cpp): a tiny synthetic IDX data set on disk,
// a tiny model file, and a child-process runner that can kill a run at a chosen moment.
//
// The tools re-exec themselves once (framework/blas.cpp, to pick OpenBLAS's core): execv keeps
// the process id, so the id fork() returns is the tool's for its whole life, and the temporary
// files it writes (NAME.tmp, framework/file_io.h) are named after the file alone.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "framework/model_file.h"

namespace trim {
namespace tool_test {

inline std::string tool_path(const std::string& name) { return std::string(TRIM_BINARY_DIR) + "/bin/" + name; }

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// An IDX data set (uncompressed, as Fashion-MNIST's layout: train-* and t10k-* files) of n_train
// and n_test size x size images in 10 classes: a bright 3x3 block whose position says the class,
// on noise. Small enough to train in a fraction of a second, big enough that an epoch is not
// over before a kill can land in it.
inline void write_idx_data(const std::string& dir, int n_train, int n_test, int size) {
  auto be32 = [](std::string& s, uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  std::mt19937 rng(12345);
  for (int split = 0; split < 2; ++split) {
    const int n = split == 0 ? n_train : n_test;
    std::string images, labels;
    be32(images, 0x803);
    be32(images, static_cast<uint32_t>(n));
    be32(images, static_cast<uint32_t>(size));
    be32(images, static_cast<uint32_t>(size));
    be32(labels, 0x801);
    be32(labels, static_cast<uint32_t>(n));
    for (int i = 0; i < n; ++i) {
      const int label = static_cast<int>(rng() % 10);
      labels.push_back(static_cast<char>(label));
      const int bx = 1 + (label % 5) * (size - 4) / 4, by = 1 + (label / 5) * (size - 4) / 2;
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          int v = static_cast<int>(rng() % 60);
          if (x >= bx && x < bx + 3 && y >= by && y < by + 3) v += 180;
          images.push_back(static_cast<char>(v));
        }
    }
    const std::string prefix = dir + (split == 0 ? "/train" : "/t10k");
    write_file_atomic(prefix + "-images-idx3-ubyte", images);
    write_file_atomic(prefix + "-labels-idx1-ubyte", labels);
  }
}

// conv -> BN -> ReLU -> pool -> conv -> ReLU -> flatten -> linear -> ReLU -> dropout -> linear
// (10 classes): every kind of state a checkpoint must carry (weights, BN running statistics,
// momentum, dropout masks drawn from the step's seed). At 16 px the weight file is ~270 KB,
// more than a pipe holds (test_kill_resume.cpp relies on that).
inline std::string tiny_desc(int size) {
  return "[input]\nchannels=1\nheight=" + std::to_string(size) + "\nwidth=" + std::to_string(size) +
         "\n[conv]\nname=c1\nfilters=8\nsize=3\npad=1\nbias=0\n[batchnorm]\nname=bn1\n[relu]\n[maxpool]\nsize=2\n"
         "[conv]\nname=c2\nfilters=16\nsize=3\npad=1\n[relu]\n[flatten]\n[linear]\nname=fc1\nout=64\n[relu]\n"
         "[dropout]\np=0.2\n[linear]\nname=fc2\nout=10\n";
}

// Writes NAME.model + NAME.weights (random initialisation, fixed seed).
inline void write_tiny_model(const std::string& model_path, int size) {
  Model m = model_from_desc(tiny_desc(size), model_path);
  m.init_params(7);
  save_model(m, model_path);
}

// A tool running as a child process, its stdout and stderr appended to a log file.
class Child {
 public:
  // before_exec runs in the child after fork, before exec (it may only make system calls).
  Child(const std::vector<std::string>& argv, const std::string& log,
        const std::function<void()>& before_exec = nullptr) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      if (before_exec) before_exec();
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }
  // True once the child has ended (without blocking).
  bool finished() {
    if (done_) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      done_ = true;
      status_ = st;
    }
    return done_;
  }
  // Waits for the end; returns the raw wait status.
  int wait() {
    if (!done_) {
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      done_ = true;
      status_ = st;
    }
    return status_;
  }
  void kill() {
    if (!finished()) ::kill(pid_, SIGKILL);
    wait();
  }
  bool exited_ok() { return WIFEXITED(wait()) && WEXITSTATUS(status_) == 0; }
  bool was_killed() { return WIFSIGNALED(wait()) && WTERMSIG(status_) == SIGKILL; }

 private:
  pid_t pid_ = -1;
  bool done_ = false;
  int status_ = 0;
};

// Runs a tool to its end; returns its exit status (-1 when a signal ended it).
inline int run_tool(const std::vector<std::string>& argv, const std::string& log) {
  Child c(argv, log);
  int st = c.wait();
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace tool_test
}  // namespace trim
