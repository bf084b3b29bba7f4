#include "pruning/latency.h"

#include <algorithm>
#include <chrono>

#include "framework/threads.h"

namespace trim {

std::string latency_engine() { return "Model::forward (eval mode, batch 1)"; }

std::vector<Latency> measure_latency(const std::vector<Model*>& models, const LatencyOptions& opt) {
  if (opt.runs < 1) throw Error("latency: runs must be at least 1");
  ThreadScope scope(opt.threads);
  struct Runner {
    Model* m;
    Workspace ws;
    Context ctx;
    Tensor x;
    std::vector<double> ms;
  };
  std::vector<Runner> rs(models.size());
  for (size_t i = 0; i < models.size(); ++i) {
    rs[i].m = models[i];
    rs[i].ctx.mode = Mode::Eval;
    rs[i].ctx.workspace = &rs[i].ws;
    const Shape& in = models[i]->input;
    rs[i].x = Tensor(Shape{1, in[0], in[1], in[2]});
  }
  for (int w = 0; w < opt.warmup; ++w)
    for (auto& r : rs) r.m->forward(r.x, r.ctx);
  for (int k = 0; k < opt.runs; ++k)
    for (auto& r : rs) {
      auto t0 = std::chrono::steady_clock::now();
      r.m->forward(r.x, r.ctx);
      r.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  std::vector<Latency> out;
  for (auto& r : rs) {
    std::sort(r.ms.begin(), r.ms.end());
    auto q = [&](double p) { return r.ms[static_cast<size_t>(p * static_cast<double>(r.ms.size() - 1) + 0.5)]; };
    out.push_back({q(0.5), q(0.1), q(0.9)});
  }
  return out;
}

}  // namespace trim
