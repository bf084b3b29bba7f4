// test_engine_limits.cpp - the engine, its worker pool and the training workspace at the edges:
// models that lower to no step, sizes that do not fit (computed in 64 bits and refused before
// allocating, naming the layer), thread counts out of range, a thread the OS refuses to start,
// run() called from two threads at once, and the depthwise kernels called the way the engine
// calls them for bands and windows (output at the buffer's first row, negative pad_top).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "framework/engine/engine.h"
#include "framework/engine/worker_pool.h"
#include "framework/kernels/kernels.h"
#include "framework/layer.h"
#include "framework/layers/shape_checks.h"
#include "framework/model_file.h"
#include "framework/threads.h"

namespace trim {
namespace {

std::vector<const kernels::KernelTable*> tables() {
  std::vector<const kernels::KernelTable*> out;
  for (const auto& isa : kernels::available_isas()) out.push_back(kernels::kernels_for(isa));
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// --- models with no engine step ---------------------------------------------------------------

// [flatten] of a 1 x 1 map and [dropout] lower to nothing: the engine is the identity. (It used
// to read steps[SIZE_MAX] at the end of run().)
// A residual model trains through the model, but the engine has no lowering for add/concat yet:
// construction must say so, naming the layer, rather than run a wrong chain.
TEST(EngineLimits, GraphModelIsAClearErrorNotAWrongChain) {
  Model m = model_from_desc(
      "[input]\nchannels=4\nheight=6\nwidth=6\n[conv]\nname=a\nfilters=4\nsize=3\npad=1\n[relu]\nname=ar\n"
      "[conv]\nname=b\nfilters=4\nsize=3\npad=1\n[add]\nname=res\nfrom=b,ar\n[globalavgpool]\n[flatten]\n"
      "[linear]\nout=3\n",
      "<residual>");
  m.init_params(1);
  const std::string err = error_of([&] { InferenceEngine e(m); });
  EXPECT_TRUE(contains(err, "not supported by the inference engine yet")) << err;
  EXPECT_TRUE(contains(err, "'res' (add)")) << err;
}

TEST(EngineLimits, ModelWithNoStepIsTheIdentity) {
  for (const char* layers : {"[flatten]\n", "[dropout]\np=0.5\n", "[flatten]\n[dropout]\np=0.1\n[flatten]\n"})
    for (int c : {10, 20, 37}) {
      Model m = model_from_desc("[input]\nchannels=" + std::to_string(c) + "\nheight=1\nwidth=1\n" + layers, "<id>");
      for (const auto* t : tables())
        for (int threads : {1, 2}) {
          EngineOptions o;
          o.isa = t;
          o.threads = threads;
          InferenceEngine e(m, o);
          EXPECT_EQ(e.steps().size(), 0u) << e.summary();
          Tensor x(Shape{3, c, 1, 1});
          for (size_t i = 0; i < x.numel(); ++i) x[i] = 0.25f * static_cast<float>(i) - 3.f;
          const Tensor& y = e.run(x);
          ASSERT_EQ(y.shape(), (Shape{3, c, 1, 1}));
          for (size_t i = 0; i < x.numel(); ++i) ASSERT_EQ(y[i], x[i]) << layers << " c=" << c << " " << t->isa;
          std::vector<float> one(static_cast<size_t>(c), -1.f);
          e.run(x.data() + c, one.data());
          for (int i = 0; i < c; ++i) ASSERT_EQ(one[i], x[c + i]);
        }
    }
}

// --- sizes ---------------------------------------------------------------------------------

std::string dwpw_desc(int c, int h, int w) {
  std::ostringstream d;
  d << "[input]\nchannels=" << c << "\nheight=" << h << "\nwidth=" << w << "\n";
  d << "[conv]\nname=dw\nfilters=" << c << "\nsize=3\npad=1\ngroups=" << c << "\nbias=0\n[relu]\n"
    << "[conv]\nname=pw\nfilters=" << c << "\nsize=1\nbias=0\n[relu]\n";
  d << "[globalavgpool]\n[flatten]\n[linear]\nout=10\n";
  return d.str();
}

// ./bench/latency dwpw_1_16384 crashed: a 1-channel 16384 x 16384 map at channel stride 16 is
// 2^32 floats, which the int cast made a 0-element buffer. Now refused before allocating.
TEST(EngineLimits, BufferThatCannotFitIsRefusedNamingTheStep) {
  for (int c : {1, 3, 7}) {
    Model m = model_from_desc(dwpw_desc(c, 16384, 16384), "<big>");
    std::string err = error_of([&] { InferenceEngine e(m); });
    EXPECT_TRUE(contains(err, "max_memory_bytes")) << err;
    EXPECT_TRUE(contains(err, "[" + std::to_string(c) + ", 16384, 16384]")) << err;
    // One channel: the depthwise output (padded to a whole vector per pixel) is the largest
    // buffer, and is named; with more channels the input may be as large and is named instead.
    if (c == 1) EXPECT_TRUE(contains(err, "'dw")) << err;
    // Refused before allocating: the process never touched gigabytes.
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    EXPECT_LT(ru.ru_maxrss, 1L << 20) << "peak RSS " << ru.ru_maxrss << " KiB";
  }
}

TEST(EngineLimits, MemoryLimitCountsWeightsBuffersAndScratchPerThread) {
  Model m = model_from_desc(dwpw_desc(24, 40, 40), "<small>");
  EngineOptions o;
  o.threads = 2;
  const size_t need = InferenceEngine(m, o).workspace_bytes();
  // Below the weights + buffers the same model needs: refused, with the sizes.
  o.max_memory_bytes = need / 2;
  std::string err = error_of([&] { InferenceEngine e(m, o); });
  EXPECT_TRUE(contains(err, "more than the")) << err;
  o.max_memory_bytes = 1024;  // even the packed weights do not fit
  err = error_of([&] { InferenceEngine e(m, o); });
  EXPECT_TRUE(contains(err, "packed weights")) << err;
}

// C, H and W each in range while their product is not: the input is bounded like every layer's
// output (it used to be checked one dimension at a time).
TEST(EngineLimits, InputTooLargeAsAProductIsAnError) {
  for (const char* dims : {"channels=4096\nheight=16384\nwidth=16384", "channels=9\nheight=16384\nwidth=16384"}) {
    std::string err = error_of([&] {
      model_from_desc(std::string("[input]\n") + dims + "\n[globalavgpool]\n[flatten]\n[linear]\nout=2\n", "in.model");
    });
    EXPECT_TRUE(contains(err, "in.model")) << err;
    EXPECT_TRUE(contains(err, "elements per sample")) << err;
  }
  // 7 x 16384 x 16384 < 2^31: still a valid model (building it allocates no activation).
  EXPECT_EQ(error_of([&] {
              model_from_desc("[input]\nchannels=7\nheight=16384\nwidth=16384\n[globalavgpool]\n[flatten]\n", "ok");
            }),
            "");
}

// The training workspace: per-thread scratch times the thread count, counted in 64 bits. A
// request past 2^31 floats used to be truncated by an int cast into a tiny buffer.
TEST(EngineLimits, TrainingWorkspaceIsCheckedIn64Bits) {
  Workspace ws;
  EXPECT_NE(ws.get(1000), nullptr);
  std::string err = error_of([&] { ws.get((size_t(1) << 32) + 5); });
  EXPECT_TRUE(contains(err, "4294967301")) << err;
  EXPECT_EQ(ws.capacity(), 1000u);
  err = error_of([&] { checked_workspace(ws, size_t(3) << 21, 1024, 16, "conv", "conv7"); });
  EXPECT_TRUE(contains(err, "conv 'conv7'")) << err;
  EXPECT_TRUE(contains(err, "1024 threads")) << err;
  err = error_of([&] { checked_workspace(ws, SIZE_MAX / 2, 3, 0, "conv", "c"); });
  EXPECT_TRUE(contains(err, "overflows")) << err;
  EXPECT_NE(checked_workspace(ws, 100, 4, 7, "conv", "c"), nullptr);
  EXPECT_EQ(ws.capacity(), 1000u);  // 407 floats fit in what it has
}

// --- threads ---------------------------------------------------------------------------------

TEST(EngineLimits, ThreadCountsOutsideTheRangeAreErrors) {
  Model m = model_from_desc(dwpw_desc(4, 8, 8), "<t>");
  for (int bad : {-1, -1000, kMaxThreads + 1, 1 << 30}) {
    EngineOptions o;
    o.threads = bad;
    std::string err = error_of([&] { InferenceEngine e(m, o); });
    EXPECT_TRUE(contains(err, "thread count " + std::to_string(bad))) << err;
    err = error_of([&] { ThreadScope s(bad); });
    EXPECT_TRUE(contains(err, "out of range")) << err;
    err = error_of([&] { WorkerPool p(bad); });
    EXPECT_TRUE(contains(err, "out of range")) << err;
  }
  EXPECT_EQ(resolve_threads(3, "x"), 3);
  EXPECT_GE(resolve_threads(0, "x"), 1);
}

// A thread the OS refuses (here: no address space left for its stack) is an Error, after the
// threads already started are joined; it used to end in std::terminate. Run in a child process
// so the address-space limit does not touch the test runner.
TEST(EngineLimits, FailedWorkerStartIsAnError) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Room for a few more small mappings but not for 64 thread stacks (8 MiB each by default).
    std::ifstream statm("/proc/self/statm");
    size_t pages = 0;
    statm >> pages;
    const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (rlim_t(24) << 20);
    rlimit r{limit, limit};
    if (setrlimit(RLIMIT_AS, &r) != 0) _exit(3);
    int code = 1;
    try {
      WorkerPool p(64);
      // Every thread started: the limit does not reach thread stacks here (qemu-user maps guest
      // stacks inside the address space it reserved at start), so there is nothing to test.
      code = 5;
    } catch (const Error& e) {
      code = contains(e.what(), "could not start worker thread") ? 0 : 2;
    } catch (...) {
      code = 4;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died (signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  if (WEXITSTATUS(status) == 5) GTEST_SKIP() << "RLIMIT_AS does not limit thread stacks in this environment (qemu-user)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error, 2: wrong message, 3: setrlimit failed, 4: another exception";
}

// --- run() from two threads ------------------------------------------------------------------

// An engine runs one image at a time: concurrent calls must either produce the right output or
// be refused with the documented error, never corrupt each other's results.
TEST(EngineLimits, ConcurrentRunIsRefusedNotCorrupted) {
  Model m = model_from_desc(dwpw_desc(32, 48, 48), "<c>");
  m.init_params(3);
  for (int threads : {1, 2}) {
    EngineOptions o;
    o.threads = threads;
    InferenceEngine e(m, o);
    Tensor x(Shape{1, 32, 48, 48});
    std::mt19937 rng(4);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (auto& v : x) v = u(rng);
    std::vector<float> want(10);
    e.run(x.data(), want.data());
    std::atomic<int> wrong{0}, refused{0}, other{0}, go{0};
    auto hammer = [&] {
      go.fetch_add(1);
      while (go.load() < 2) {
      }
      std::vector<float> got(10);
      for (int i = 0; i < 300; ++i) {
        try {
          e.run(x.data(), got.data());
          if (got != want) wrong.fetch_add(1);
        } catch (const Error& err) {
          (contains(err.what(), "another run of the same engine") ? refused : other).fetch_add(1);
        }
      }
    };
    std::thread a(hammer), b(hammer);
    a.join();
    b.join();
    EXPECT_EQ(wrong.load(), 0) << threads;
    EXPECT_EQ(other.load(), 0) << threads;
    // After the contest the engine works as before.
    std::vector<float> again(10);
    e.run(x.data(), again.data());
    EXPECT_EQ(again, want);
    std::printf("threads=%d: %d of 600 concurrent runs refused\n", threads, refused.load());
  }
}

// --- the depthwise kernels as the engine calls them for bands and windows ------------------------

// DwPw and Chain steps compute output rows [y0, y1) into a band buffer that starts at row y0, from
// an input window that starts at row r0, by calling with oy0 = 0 and pad_top = pad - y0 * stride
// + r0 (kernels.h). Every ISA must give exactly the rows of a whole-map call.
TEST(EngineLimits, DepthwiseBandsAndWindowsMatchWholeMap) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (const auto* t : tables())
    for (int stride : {1, 2})
      for (int ch : {1, 5, 19}) {
        const int ih = 13, iw = 9, pad = 1, oh = (ih + 2 * pad - 3) / stride + 1, ow = (iw + 2 * pad - 3) / stride + 1;
        const size_t cs = kernels::activation_channel_stride(ch, *t);
        std::vector<float> in(static_cast<size_t>(ih) * iw * cs), wr(static_cast<size_t>(ch) * 9);
        for (auto& v : in) v = u(rng);
        for (auto& v : wr) v = u(rng);
        std::vector<float> w(kernels::packed_dwconv3x3_size(ch)), bias(kernels::round_up(ch, kernels::kWeightAlign), 0.f);
        kernels::pack_dwconv3x3(ch, wr.data(), w.data());
        for (int c = 0; c < ch; ++c) bias[c] = u(rng);
        auto f = stride == 1 ? t->dwconv3x3_s1 : t->dwconv3x3_s2;
        const size_t row = static_cast<size_t>(ow) * cs;
        std::vector<float> whole(oh * row, 0.f);
        f(in.data(), ih, iw, cs, whole.data(), ow, cs, 0, oh, ch, w.data(), bias.data(), pad, pad, -1.5f, 1.5f);
        for (int y0 = 0; y0 < oh; ++y0)
          for (int y1 = y0 + 1; y1 <= std::min(oh, y0 + 4); ++y1) {
            // The window holds input rows [r0, r1): exactly what rows [y0, y1) read.
            const int r0 = std::max(0, y0 * stride - pad), r1 = std::min(ih, (y1 - 1) * stride - pad + 3);
            std::vector<float> window(in.begin() + r0 * iw * cs, in.begin() + r1 * iw * cs);
            std::vector<float> band((y1 - y0) * row, 0.f);
            f(window.data(), r1 - r0, iw, cs, band.data(), ow, cs, 0, y1 - y0, ch, w.data(), bias.data(),
              pad - y0 * stride + r0, pad, -1.5f, 1.5f);
            for (int y = y0; y < y1; ++y)
              for (int x = 0; x < ow; ++x)
                for (int c = 0; c < ch; ++c)
                  ASSERT_EQ(band[(y - y0) * row + x * cs + c], whole[y * row + x * cs + c])
                      << t->isa << " s" << stride << " ch " << ch << " rows " << y0 << ".." << y1 << " y " << y;
          }
      }
}

}  // namespace
}  // namespace trim
