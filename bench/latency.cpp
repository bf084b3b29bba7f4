// latency.cpp - whole-model inference latency (ncnn's benchncnn in spirit): loads trim model
// files (or builds the built-in models with random weights), runs warm-up and timed runs at
// batch 1 through the InferenceEngine and prints median, p90 and min latency, MACs, GFLOP/s and
// memory. --compare times a second model in alternation with each one and prints the speedup;
// --layers prints where the time goes; --serve is the protocol bench/peers/ drives.
//
//   latency                                  SICK-Net 1x28x28 and MobileNet V1 1.0/224
//   latency runs/pruned/model.model --compare runs/dense/model.model
//   latency mobilenet_v1:alpha=0.5 --threads 2 --runs 100 --json
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <functional>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "framework/cli_options.h"
#include "framework/engine/engine.h"
#include "framework/json_writer.h"
#include "framework/latency_stats.h"
#include "framework/option_values.h"
#include "framework/strings.h"
#include "framework/model_file.h"
#include "models/model_spec.h"
#include "models/zoo.h"

namespace {

using namespace trim;

const char* kDefaultModels[] = {"sicknet", "mobilenet_v1"};

// A file name for a spec written by --save: "mobilenet_v1:alpha=0.5" -> "mobilenet_v1_alpha0.5".
std::string file_name_of(const std::string& spec) {
  std::string n;
  for (char c : spec) {
    if (c == ':' || c == ',') n += '_';
    else if (c != '=' && c != '/') n += c;
  }
  return n;
}

struct Bench {
  std::string spec;
  Model model;
  std::unique_ptr<InferenceEngine> engine;
  std::vector<float> in, out;
  std::vector<double> ms;  // per timed run

  Bench(const std::string& s, const EngineOptions& o) : spec(s), model(load_model_spec(s)) {
    engine.reset(new InferenceEngine(model, o));
    in.resize(model.input.numel());
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (auto& v : in) v = u(rng);
    out.resize(engine->output_shape().numel());
  }
  double once() {
    auto t0 = std::chrono::steady_clock::now();
    engine->run(in.data(), out.data());
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
};

double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // kilobytes on Linux
}

// Runs the benches in alternation (framework/latency_stats.h).
void measure(std::vector<Bench*>& bs, int warmup, int runs) {
  std::vector<std::function<void()>> fns;
  for (auto* b : bs) fns.push_back([b] { b->engine->run(b->in.data(), b->out.data()); });
  auto ms = time_interleaved(fns, warmup, runs, [&] {
    for (auto* b : bs) b->engine->reset_profile();
  });
  for (size_t i = 0; i < bs.size(); ++i) bs[i]->ms = std::move(ms[i]);
}

void print_text(const Bench& b, bool layers) {
  const InferenceEngine& e = *b.engine;
  const double med = percentile(b.ms, 0.5);
  const double gflops = 2.0 * e.macs() / (med * 1e-3) * 1e-9;
  std::printf("%s  input %s  %s, %d thread%s\n", b.spec.c_str(), e.input_shape().str().c_str(), e.isa(), e.threads(),
              e.threads() == 1 ? "" : "s");
  std::printf("  latency  median %.3f ms  p90 %.3f ms  min %.3f ms  (%zu runs)\n", med, percentile(b.ms, 0.9),
              percentile(b.ms, 0.0), b.ms.size());
  std::printf("  MACs %.1f M  %.1f GFLOP/s  params %.2f M\n", e.macs() * 1e-6, gflops, b.model.num_params() * 1e-6);
  std::printf("  memory: weights %.2f MiB + buffers %.2f MiB; process peak RSS %.1f MiB\n", e.weight_bytes() / 1048576.0,
              e.workspace_bytes() / 1048576.0, max_rss_mib());
  if (layers) {
    double total = 0;
    for (const auto& s : e.steps()) total += s.seconds;
    double total_min = 0;
    for (const auto& s : e.steps()) total_min += s.min_seconds;
    double total_cpu = 0;
    for (const auto& s : e.steps()) total_cpu += s.cpu_seconds;
    // cpu ms: the calling thread's CPU time per run (the whole cost at one thread, even on a
    // loaded machine; at more threads only the caller's share).
    std::printf("  %-14s %-18s %10s %9s %6s %9s %9s %8s  %s\n", "kind", "output", "MACs", "mean ms", "%", "min ms", "cpu ms",
                "GFLOP/s", "layers (GFLOP/s at the min)");
    for (const auto& s : e.steps()) {
      const double ms = s.runs ? s.seconds / s.runs * 1e3 : 0, mn = s.min_seconds * 1e3;
      const double cpu = s.runs ? s.cpu_seconds / s.runs * 1e3 : 0;
      std::printf("  %-14s %-18s %10lld %9.4f %5.1f%% %9.4f %9.4f %8.1f  %s\n", s.kind.c_str(), s.out.str().c_str(),
                  static_cast<long long>(s.macs), ms, total > 0 ? 100.0 * s.seconds / total : 0.0, mn, cpu,
                  mn > 0 ? 2.0 * s.macs / (mn * 1e-3) * 1e-9 : 0.0, s.name.c_str());
    }
    const int runs = e.steps().empty() ? 0 : e.steps()[0].runs;
    std::printf("  sum of per-layer minima %.3f ms; caller's CPU time per run %.3f ms\n", total_min * 1e3,
                runs ? total_cpu / runs * 1e3 : 0.0);
  }
}

void json_fields(JsonWriter& j, const Bench& b, bool layers) {
  const InferenceEngine& e = *b.engine;
  const double med = percentile(b.ms, 0.5);
  j.kv("model", b.spec);
  j.kv("isa", e.isa());
  j.kv("threads", e.threads());
  j.kv("input", e.input_shape().str());
  j.kv("macs", static_cast<int64_t>(e.macs()));
  j.kv("params", static_cast<int64_t>(b.model.num_params()));
  j.kv("runs", static_cast<int64_t>(b.ms.size()));
  j.kv("median_ms", med);
  j.kv("p90_ms", percentile(b.ms, 0.9));
  j.kv("min_ms", percentile(b.ms, 0.0));
  j.kv("gflops", 2.0 * static_cast<double>(e.macs()) / (med * 1e-3) * 1e-9);
  j.kv("weight_bytes", static_cast<int64_t>(e.weight_bytes()));
  j.kv("buffer_bytes", static_cast<int64_t>(e.workspace_bytes()));
  j.kv("peak_rss_mib", max_rss_mib());
  if (layers) {
    j.key("layers");
    j.begin_array();
    for (const auto& s : e.steps()) {
      j.begin_object();
      j.kv("name", s.name);
      j.kv("kind", s.kind);
      j.kv("macs", static_cast<int64_t>(s.macs));
      j.kv("ms", s.runs ? s.seconds / s.runs * 1e3 : 0.0);
      j.kv("min_ms", s.min_seconds * 1e3);
      j.kv("cpu_ms", s.runs ? s.cpu_seconds / s.runs * 1e3 : 0.0);
      j.end_object();
    }
    j.end_array();
  }
}

// One line of JSON; with `base`, the comparison model and the speedup over it.
std::string json_of(const Bench& b, bool layers, const Bench* base = nullptr) {
  JsonWriter j(false);
  j.begin_object();
  json_fields(j, b, layers);
  if (base) {
    j.key("compare");
    j.begin_object();
    json_fields(j, *base, false);
    j.end_object();
    j.kv("speedup", percentile(base->ms, 0.5) / percentile(b.ms, 0.5));
    j.kv("mac_ratio", static_cast<double>(base->engine->macs()) / static_cast<double>(b.engine->macs()));
  }
  j.end_object();
  return j.str();
}

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// --serve: one model, commands on stdin, one JSON line per command on stdout. "run N" times N
// runs; "input FILE" loads the image; "output" prints the logits; "quit" ends. Peers scripts interleave this with PyTorch
// and ONNX Runtime in one process tree.
int serve(Bench& b) {
  std::string line;
  std::printf("{\"ready\": true, \"macs\": %lld, \"isa\": \"%s\", \"threads\": %d}\n", static_cast<long long>(b.engine->macs()),
              b.engine->isa(), b.engine->threads());
  std::fflush(stdout);
  while (std::getline(std::cin, line)) {
    std::istringstream ss(line);
    std::string cmd;
    ss >> cmd;
    if (cmd == "quit") break;
    if (cmd == "run") {
      int n = 1;
      ss >> n;
      // Wall time per run, and the process's CPU time per run (all threads; unlike wall time it
      // does not grow while the OS runs other processes, so it holds on a loaded machine).
      std::vector<double> wall(n), cpu(n);
      for (int i = 0; i < n; ++i) {
        const double c0 = process_cpu_ms();
        wall[i] = b.once();
        cpu[i] = process_cpu_ms() - c0;
      }
      std::printf("{\"ms\": [");
      for (int i = 0; i < n; ++i) std::printf("%s%.5f", i ? ", " : "", wall[i]);
      std::printf("], \"cpu_ms\": [");
      for (int i = 0; i < n; ++i) std::printf("%s%.5f", i ? ", " : "", cpu[i]);
      std::printf("]}\n");
    } else if (cmd == "input") {  // raw float32 NCHW image from a file, shared with the peers
      std::string path;
      ss >> path;
      std::string bytes = read_file(path);
      if (bytes.size() != b.in.size() * sizeof(float))
        throw Error("input file " + path + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                    std::to_string(b.in.size() * sizeof(float)));
      std::memcpy(b.in.data(), bytes.data(), bytes.size());
      std::printf("{\"ok\": true}\n");
    } else if (cmd == "output") {  // the logits of the fixed input, for cross-checks
      b.once();
      std::printf("{\"output\": [");
      for (size_t i = 0; i < b.out.size(); ++i) std::printf("%s%.7g", i ? ", " : "", b.out[i]);
      std::printf("]}\n");
    } else {
      std::printf("{\"error\": %s}\n", json_quote("unknown command '" + cmd + "' (run N | input FILE | output | quit)").c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

int body(int argc, char** argv) {
  CliOptions cli("latency",
                 "Inference latency at batch 1 of each MODEL (none: sicknet and mobilenet_v1 with random weights).\n"
                 "TRIM_ISA=ref|avx2|avx512|neon forces a kernel path.");
  cli.positional_args("MODEL...", "a NAME.model file or a built-in model spec: " + model_spec_help());
  cli.option("threads", "1", "OpenMP threads per inference");
  cli.option("warmup", "10", "untimed runs first");
  cli.option("runs", "50", "timed runs");
  cli.option("compare", "", "time this model in alternation with each MODEL and print the speedup of MODEL over it");
  cli.option("save", "", "write each MODEL (e.g. a built-in) as DIR/<name>.model + .weights and exit");
  cli.option("fuse-min-kb", "512", "fuse a depthwise layer with the pointwise after it when its output exceeds this many KiB");
  cli.flag("interleave", "time all MODELs in alternation (run i of each, then run i+1) rather than one after another");
  cli.flag("json", "one JSON object per model on stdout");
  cli.flag("layers", "per-layer time (mean over the timed runs)");
  cli.flag("serve", "peers protocol: read 'run N' / 'input FILE' / 'output' / 'quit' from stdin (one MODEL)");
  if (!cli.parse(argc, argv)) {
    std::cout << cli.usage();
    return 0;
  }
  std::vector<std::string> specs = cli.positional();
  if (specs.empty()) specs.assign(std::begin(kDefaultModels), std::end(kDefaultModels));
  EngineOptions o;
  o.threads = cli.integer("threads", 1, kMaxThreads);
  o.profile = cli.on("layers");
  o.fuse_min_bytes = static_cast<size_t>(cli.integer("fuse-min-kb", 0, 1 << 20)) << 10;
  const int warmup = cli.integer("warmup", 0, 1000000), runs = cli.integer("runs", 1, 10000000);

  if (cli.given("save")) {
    for (const auto& s : specs) {
      Model m = load_model_spec(s);
      std::string name = file_name_of(s);
      if (ends_with(s, ".model")) name = s.substr(s.find_last_of('/') + 1, s.size() - s.find_last_of('/') - 7);
      save_model(m, cli.output_path("save") + "/" + name + ".model");
      std::printf("%s/%s.model\n", cli.str("save").c_str(), name.c_str());
    }
    return 0;
  }
  if (cli.on("serve")) {
    if (specs.size() != 1) throw Error("--serve takes exactly one MODEL");
    Bench b(specs[0], o);
    return serve(b);
  }

  if (cli.on("interleave")) {
    if (cli.given("compare")) throw Error("--interleave and --compare do not combine");
    std::vector<std::unique_ptr<Bench>> all;
    std::vector<Bench*> group;
    for (const auto& s : specs) {
      all.emplace_back(new Bench(s, o));
      group.push_back(all.back().get());
    }
    measure(group, warmup, runs);
    for (size_t i = 0; i < all.size(); ++i) {
      if (cli.on("json")) {
        std::printf("%s\n", json_of(*all[i], cli.on("layers")).c_str());
      } else {
        if (i) std::printf("\n");
        print_text(*all[i], cli.on("layers"));
      }
    }
    return 0;
  }

  std::unique_ptr<Bench> base;
  if (cli.given("compare")) base.reset(new Bench(cli.str("compare"), o));
  bool first = true;
  for (const auto& s : specs) {
    Bench b(s, o);
    std::vector<Bench*> group = {&b};
    if (base) {
      base->ms.clear();
      group.push_back(base.get());
    }
    measure(group, warmup, runs);
    if (cli.on("json")) {
      std::printf("%s\n", json_of(b, cli.on("layers"), base.get()).c_str());
    } else {
      if (!first) std::printf("\n");
      print_text(b, cli.on("layers"));
      if (base) {
        std::printf("\n");
        print_text(*base, false);
        const double sp = percentile(base->ms, 0.5) / percentile(b.ms, 0.5);
        std::printf("\n  speedup of %s over %s: %.3fx (median %.3f ms vs %.3f ms, same run, alternating); "
                    "MAC reduction %.3fx (%.1f M vs %.1f M)\n",
                    b.spec.c_str(), base->spec.c_str(), sp, percentile(b.ms, 0.5), percentile(base->ms, 0.5),
                    double(base->engine->macs()) / b.engine->macs(), b.engine->macs() * 1e-6, base->engine->macs() * 1e-6);
      }
    }
    first = false;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return trim::run_tool("latency", body, argc, argv); }
