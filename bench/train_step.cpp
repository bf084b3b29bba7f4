// train_step - time of one SGD training step (forward + backward + update) of a model at a given
// batch size, and per layer, median over runs. Used to tune the training layers and to compare
// with PyTorch (bench/train_vs_pytorch.py runs both in one go).
//
//   train_step --model sicknet --batch 64 --threads 2 --runs 20 [--layers] [--cpu-time]
//
// --cpu-time measures the process's CPU time instead of wall time: on a machine shared with
// other jobs, one thread's CPU time barely moves when the core is taken away, so it compares
// two builds of a layer where wall time cannot. (With several threads it also counts the time
// threads spin at barriers.)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <cstdint>
#include <random>
#include <string>

#include "framework/blas.h"
#include "framework/cli_options.h"
#include "framework/model_file.h"
#include "framework/optimizer.h"
#include "framework/threads.h"
#include "framework/train_step.h"
#include "models/zoo.h"

using namespace trim;
using Clock = std::chrono::steady_clock;

namespace {

bool use_cpu_time = false;

// Milliseconds on the chosen clock (wall, or this process's CPU time).
double now_ms() {
  if (use_cpu_time) {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
  }
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

double ms_since(double t) { return now_ms() - t; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int step_main(int argc, char** argv) {
  CliOptions o("train_step", "Time training steps (forward + backward + SGD update) of a model.");
  o.option("model", "sicknet", "built-in model name or NAME.model");
  o.option("input", "1,28,28", "input C,H,W for built-in models");
  o.option("classes", "10", "classes for built-in models");
  o.option("batch", "64", "batch size");
  o.option("threads", "0", "threads (0: all cores)");
  o.option("warmup", "3", "warm-up steps");
  o.option("runs", "20", "timed steps");
  o.flag("layers", "print forward/backward time per layer");
  o.flag("cpu-time", "time with the process's CPU time instead of wall time");
  if (!o.parse(argc, argv)) {
    std::fputs(o.usage().c_str(), stdout);
    return 0;
  }
  std::string spec = o.str("model");
  Model m;
  if (spec.size() > 6 && spec.substr(spec.size() - 6) == ".model") {
    // A description without weights is fine for timing: random initialisation.
    std::ifstream weights(weights_path_for(spec));
    if (weights) {
      m = load_model(spec);
    } else {
      m = model_from_desc(read_file(spec), spec);
      m.init_params(1);
    }
  } else {
    auto in = o.int_list("input");
    if (in.size() != 3) throw Error("--input must be C,H,W");
    m = build_model_by_name(spec, in[0], in[1], in[2], o.integer("classes"));
    m.init_params(1);
  }
  use_cpu_time = o.on("cpu-time");
  ThreadScope ts(o.integer("threads"));
  const int n = o.integer("batch");
  Tensor x(Shape{n, m.input[0], m.input[1], m.input[2]}), dlogits;
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd;
  for (float& v : x) v = nd(rng);
  std::vector<int> labels(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % m.classes();
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Train;
  ctx.workspace = &ws;
  ctx.rng = &rng;
  Sgd sgd(m, SgdOptions());
  const int warm = o.integer("warmup"), runs = o.integer("runs");
  const size_t L = m.layers.size();
  // Per step of Model::forward/backward (one layer, or a fused BN + ReLU pair, timed as its
  // first layer): the same code path training takes.
  // The loss between forward and backward is left out of the first backward layer's time.
  struct Timer : Model::StepObserver, StepHooks {
    std::vector<std::vector<double>> fwd, bwd;
    std::vector<size_t> last;  // last[i]: the last layer of the step starting at i
    double t = 0;
    bool on = false;
    void step_done(size_t first, size_t end, bool backward) override {
      const double now = now_ms();
      if (on) (backward ? bwd : fwd)[first].push_back(now - t);
      last[first] = end;
      t = now;
    }
    void before_backward(Model&) override { t = now_ms(); }
  } timer;
  timer.fwd.resize(L);
  timer.bwd.resize(L);
  timer.last.assign(L, SIZE_MAX);
  for (auto& v : timer.fwd) v.reserve(static_cast<size_t>(runs));
  for (auto& v : timer.bwd) v.reserve(static_cast<size_t>(runs));
  m.observer = &timer;
  std::vector<double> total;
  for (int r = 0; r < warm + runs; ++r) {
    const double t0 = now_ms();
    timer.on = r >= warm;
    timer.t = t0;
    if (!train_step(m, sgd, ctx, x, labels, 0.01f, dlogits, &timer).updated) throw Error("train_step: the loss is not finite");
    if (r >= warm) total.push_back(ms_since(t0));
  }
  m.observer = nullptr;
  double med = median(total);
  std::printf("%s batch %d threads %d (OpenBLAS core %s): step %.2f ms%s median (%.0f images/s)\n", spec.c_str(), n,
              max_threads(), blas_core_name(), med, use_cpu_time ? " CPU" : "", 1000.0 * n / med);
  if (o.on("layers"))
    for (size_t i = 0; i < L; ++i) {
      if (timer.last[i] == SIZE_MAX) continue;  // inside a fused step
      std::string name = m.layers[i]->name(), type = m.layers[i]->type();
      for (size_t j = i + 1; j <= timer.last[i]; ++j) {
        name += "+" + m.layers[j]->name();
        type += "+" + m.layers[j]->type();
      }
      std::printf("  %-24s %-15s fwd %7.3f ms  bwd %7.3f ms\n", name.c_str(), type.c_str(), median(timer.fwd[i]),
                  median(timer.bwd[i]));
    }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_tool("train_step", step_main, argc, argv); }
