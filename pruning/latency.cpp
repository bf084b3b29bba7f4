#include "pruning/latency.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "framework/engine/engine.h"
#include "framework/threads.h"

namespace trim {

std::string latency_engine() {
  return "InferenceEngine (" + std::string(kernels::kernels().isa) + ", deploy path: BN folded, dropout dropped)";
}

std::vector<Latency> measure_latency(const std::vector<Model*>& models, const LatencyOptions& opt) {
  if (opt.runs < 1) throw Error("latency: runs must be at least 1");
  ThreadScope scope(opt.threads);
  struct Runner {
    std::unique_ptr<InferenceEngine> engine;
    std::vector<float> in, out;
    std::vector<double> ms;
  };
  EngineOptions eo;
  eo.threads = opt.threads;
  std::vector<Runner> rs(models.size());
  for (size_t i = 0; i < models.size(); ++i) {
    rs[i].engine = std::make_unique<InferenceEngine>(*models[i], eo);
    rs[i].in.assign(models[i]->input.numel(), 0.5f);
    rs[i].out.assign(rs[i].engine->output_shape().numel(), 0.f);
  }
  auto once = [](Runner& r) {
    auto t0 = std::chrono::steady_clock::now();
    r.engine->run(r.in.data(), r.out.data());
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int w = 0; w < opt.warmup; ++w)
    for (auto& r : rs) once(r);
  for (int k = 0; k < opt.runs; ++k)
    for (auto& r : rs) r.ms.push_back(once(r));
  std::vector<Latency> out;
  for (auto& r : rs) {
    std::sort(r.ms.begin(), r.ms.end());
    auto q = [&](double p) { return r.ms[static_cast<size_t>(p * static_cast<double>(r.ms.size() - 1) + 0.5)]; };
    out.push_back({q(0.5), q(0.1), q(0.9)});
  }
  return out;
}

}  // namespace trim
