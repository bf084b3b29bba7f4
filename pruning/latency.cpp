#include "pruning/latency.h"

#include <functional>
#include <memory>

#include "framework/engine/engine.h"
#include "framework/latency_stats.h"
#include "framework/threads.h"

namespace trim {

std::string latency_engine() {
  return "InferenceEngine (" + std::string(kernels::kernels().isa) + ", deploy path: BN folded, dropout dropped)";
}

std::vector<Latency> measure_latency(const std::vector<Model*>& models, const LatencyOptions& opt) {
  ThreadScope scope(opt.threads);
  struct Runner {
    std::unique_ptr<InferenceEngine> engine;
    std::vector<float> in, out;
  };
  EngineOptions eo;
  eo.threads = opt.threads;
  std::vector<Runner> rs(models.size());
  std::vector<std::function<void()>> fns;
  for (size_t i = 0; i < models.size(); ++i) {
    rs[i].engine = std::make_unique<InferenceEngine>(*models[i], eo);
    rs[i].in.assign(models[i]->input.numel(), 0.5f);
    rs[i].out.assign(rs[i].engine->output_shape().numel(), 0.f);
    Runner* r = &rs[i];
    fns.push_back([r] { r->engine->run(r->in.data(), r->out.data()); });
  }
  const auto ms = time_interleaved(fns, opt.warmup, opt.runs);
  std::vector<Latency> out;
  for (const auto& m : ms) out.push_back({percentile(m, 0.5), percentile(m, 0.1), percentile(m, 0.9)});
  return out;
}

}  // namespace trim
