// xnnpack_peer.cpp - XNNPACK, the reference engine for fp32 CNNs on Arm, run on exactly the layer
// shapes of a trim model, and timed against trim's engine in alternation in one process.
//
//   xnnpack_peer MODEL [--runs 50] [--warmup 5] [--threads 1] [--only xnnpack|trim]
//
// MODEL is what bench/latency takes (a .model file, dense or pruned, or a built-in name). The
// model is read with trim's own loader and every layer becomes an XNNPACK subgraph node through
// the subgraph API (xnn_define_* / xnn_create_runtime): conv (standard, depthwise) with the batch
// norm after it folded into its weights and a ReLU/ReLU6 after that fused as the node's clamp,
// as trim's engine does; max/avg/global pooling; flatten + linear as a fully connected node on
// the NHWC map (the weights permuted from trim's CHW flattening, so the logits agree). Both
// engines get the model's weights, and the logits are compared (max difference relative to the
// largest logit), so a mismatch in shapes or layout shows.
//
// Output: one JSON line: per-run medians of both, their ratio, and the logit check. With --only
// just one engine runs its loop (instruction counting under qemu: bench/arm/arm_cost.py --peer).
// The input goes to XNNPACK already NHWC (trim converts NCHW itself inside its run): the peer is
// given that small advantage rather than a cost of ours.
//
// This is a benchmark binary only: XNNPACK is never linked into trim's libraries or tools.
#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "framework/cli_options.h"
#include "framework/engine/engine.h"
#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/linear.h"
#include "framework/layers/pool2d.h"
#include "framework/tensor.h"
#include "models/model_spec.h"

namespace {

using namespace trim;

void check(xnn_status s, const std::string& what) {
  if (s != xnn_status_success) throw Error("XNNPACK: " + what + " failed (status " + std::to_string(static_cast<int>(s)) + ")");
}

// The subgraph of one model. Weight arrays must outlive the runtime (XNNPACK packs them at
// creation, but the subgraph keeps pointers), so they live here.
struct XnnModel {
  xnn_subgraph_t subgraph = nullptr;
  xnn_runtime_t runtime = nullptr;
  std::vector<std::unique_ptr<std::vector<float>>> arrays;
  uint32_t input_id = 0, output_id = 1;
  int layers_mapped = 0;

  ~XnnModel() {
    if (runtime) xnn_delete_runtime(runtime);
    if (subgraph) xnn_delete_subgraph(subgraph);
  }
  const float* keep(std::vector<float> v) {
    arrays.emplace_back(new std::vector<float>(std::move(v)));
    return arrays.back()->data();
  }
  uint32_t value(std::vector<size_t> dims, const float* data, uint32_t external, uint32_t flags) {
    uint32_t id = 0;
    check(xnn_define_tensor_value(subgraph, xnn_datatype_fp32, dims.size(), dims.data(), data, external, flags, &id),
          "define tensor");
    return id;
  }
};

const Layer* at(const Model& m, size_t i) { return i < m.layers.size() ? m.layers[i].get() : nullptr; }

// Clamp of a ReLU/ReLU6 at layer i (consumed: i advances), else none.
void fuse_activation(const Model& m, size_t& i, float& lo, float& hi) {
  const Layer* l = at(m, i + 1);
  if (l && l->type() == "relu") lo = 0.f, ++i;
  else if (l && l->type() == "relu6") lo = 0.f, hi = 6.f, ++i;
}

std::unique_ptr<XnnModel> build_xnn(const Model& m) {
  std::unique_ptr<XnnModel> x(new XnnModel);
  check(xnn_create_subgraph(2, 0, &x->subgraph), "create subgraph");
  Shape s = m.input;  // C, H, W
  uint32_t cur = x->value({1, static_cast<size_t>(s[1]), static_cast<size_t>(s[2]), static_cast<size_t>(s[0])}, nullptr,
                          x->input_id, XNN_VALUE_FLAG_EXTERNAL_INPUT);
  Shape before_flatten;  // the map a [flatten] saw (its C, H, W give the linear's column order)
  bool flat = false;
  const float kInf = INFINITY;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer* l = m.layers[i].get();
    const std::string t = l->type();
    const bool last_compute = [&] {
      for (size_t j = i + 1; j < m.layers.size(); ++j) {
        const std::string u = m.layers[j]->type();
        if (u != "relu" && u != "relu6" && u != "dropout" && u != "batchnorm") return false;
      }
      return true;
    }();
    float lo = -kInf, hi = kInf;
    if (t == "dropout" || t == "flatten") {
      if (t == "flatten") flat = true, before_flatten = l->in_shape();
      continue;
    }
    if (t == "conv") {
      const auto& c = static_cast<const Conv2d&>(*l);
      const int cin = c.in_channels, cout = c.out_channels, k = c.kernel, g = c.groups, cin_g = cin / g;
      std::vector<float> scale(cout, 1.f), shift(cout, 0.f);
      for (int o = 0; o < cout; ++o) shift[o] = c.has_bias ? c.bias.data()[o] : 0.f;
      const Layer* nb = at(m, i + 1);
      if (nb && nb->type() == "batchnorm") {  // fold, as trim's engine does
        const auto& bn = static_cast<const BatchNorm2d&>(*nb);
        for (int o = 0; o < cout; ++o) {
          const float inv = 1.f / std::sqrt(bn.running_var.data()[o] + bn.eps);
          scale[o] = bn.gamma.data()[o] * inv;
          shift[o] = (shift[o] - bn.running_mean.data()[o]) * scale[o] + bn.beta.data()[o];
        }
        ++i;
      }
      fuse_activation(m, i, lo, hi);
      const Shape o = l->out_shape();
      // trim: [cout][cin/g][k][k]. XNNPACK conv: [cout][k][k][cin/g]; depthwise: [1][k][k][cout].
      std::vector<float> w(static_cast<size_t>(cout) * cin_g * k * k);
      const bool dw = c.depthwise();
      for (int co = 0; co < cout; ++co)
        for (int ci = 0; ci < cin_g; ++ci)
          for (int t2 = 0; t2 < k * k; ++t2) {
            const float v = c.weight.data()[(static_cast<size_t>(co) * cin_g + ci) * k * k + t2] * scale[co];
            if (dw) w[static_cast<size_t>(t2) * cout + co] = v;
            else w[(static_cast<size_t>(co) * k * k + t2) * cin_g + ci] = v;
          }
      const uint32_t wid = dw ? x->value({1, size_t(k), size_t(k), size_t(cout)}, x->keep(std::move(w)), XNN_INVALID_VALUE_ID, 0)
                              : x->value({size_t(cout), size_t(k), size_t(k), size_t(cin_g)}, x->keep(std::move(w)),
                                         XNN_INVALID_VALUE_ID, 0);
      const uint32_t bid = x->value({size_t(cout)}, x->keep(shift), XNN_INVALID_VALUE_ID, 0);
      const bool out_ext = last_compute;
      const uint32_t out = x->value({1, size_t(o[1]), size_t(o[2]), size_t(o[0])}, nullptr,
                                    out_ext ? x->output_id : XNN_INVALID_VALUE_ID, out_ext ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : 0);
      const uint32_t p = static_cast<uint32_t>(c.pad), st = static_cast<uint32_t>(c.stride), kk = static_cast<uint32_t>(k);
      if (dw)
        check(xnn_define_depthwise_convolution_2d(x->subgraph, p, p, p, p, kk, kk, st, st, 1, 1, 1, size_t(cout), lo, hi, cur, wid,
                                                  bid, out, 0), "depthwise convolution " + l->name());
      else
        check(xnn_define_convolution_2d(x->subgraph, p, p, p, p, kk, kk, st, st, 1, 1, uint32_t(g), size_t(cin_g),
                                        size_t(cout / g), lo, hi, cur, wid, bid, out, 0), "convolution " + l->name());
      cur = out;
    } else if (t == "maxpool" || t == "avgpool") {
      const auto* mp = dynamic_cast<const MaxPool2d*>(l);
      const auto* ap = dynamic_cast<const AvgPool2d*>(l);
      const int k = mp ? mp->kernel : ap->kernel, st = mp ? mp->stride : ap->stride, p = mp ? mp->pad : ap->pad;
      fuse_activation(m, i, lo, hi);
      const Shape o = l->out_shape();
      const uint32_t out = x->value({1, size_t(o[1]), size_t(o[2]), size_t(o[0])}, nullptr, XNN_INVALID_VALUE_ID, 0);
      if (mp)
        check(xnn_define_max_pooling_2d(x->subgraph, p, p, p, p, k, k, st, st, 1, 1, lo, hi, cur, out, 0), "max pooling");
      else
        check(xnn_define_average_pooling_2d(x->subgraph, p, p, p, p, k, k, st, st, lo, hi, cur, out, 0), "average pooling");
      cur = out;
    } else if (t == "globalavgpool") {
      const Shape o = l->out_shape();
      const uint32_t out = x->value({1, 1, 1, size_t(o[0])}, nullptr, XNN_INVALID_VALUE_ID, 0);
      check(xnn_define_global_average_pooling_2d(x->subgraph, -kInf, kInf, cur, out, 0), "global average pooling");
      cur = out;
    } else if (t == "linear") {
      const auto& f = static_cast<const Linear&>(*l);
      fuse_activation(m, i, lo, hi);
      // trim flattens NCHW (c, y, x); the XNNPACK map is NHWC: permute the weight columns.
      const Shape in = flat ? before_flatten : l->in_shape();
      const int c = in[0], hw = static_cast<int>(in.numel() / std::max(1, c));
      if (static_cast<int64_t>(c) * hw != f.in_features) throw Error("xnnpack_peer: " + l->name() + ": input size mismatch");
      std::vector<float> w(static_cast<size_t>(f.out_features) * f.in_features);
      for (int o = 0; o < f.out_features; ++o)
        for (int ch = 0; ch < c; ++ch)
          for (int p = 0; p < hw; ++p)
            w[static_cast<size_t>(o) * f.in_features + p * c + ch] = f.weight.data()[static_cast<size_t>(o) * f.in_features + ch * hw + p];
      std::vector<float> b(f.out_features, 0.f);
      if (f.has_bias) std::copy(f.bias.data(), f.bias.data() + f.out_features, b.begin());
      const uint32_t wid = x->value({size_t(f.out_features), size_t(f.in_features)}, x->keep(std::move(w)), XNN_INVALID_VALUE_ID, 0);
      const uint32_t bid = x->value({size_t(f.out_features)}, x->keep(std::move(b)), XNN_INVALID_VALUE_ID, 0);
      const bool out_ext = last_compute;
      const uint32_t out = x->value({1, size_t(f.out_features)}, nullptr, out_ext ? x->output_id : XNN_INVALID_VALUE_ID,
                                    out_ext ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT : 0);
      check(xnn_define_fully_connected(x->subgraph, lo, hi, cur, wid, bid, out, XNN_FLAG_TENSORFLOW_RESHAPE_2D),
            "fully connected " + l->name());
      cur = out;
      flat = false;
    } else {
      throw Error("xnnpack_peer: layer " + l->name() + " of type [" + t + "] has no XNNPACK mapping here");
    }
    ++x->layers_mapped;
  }
  check(xnn_create_runtime(x->subgraph, &x->runtime), "create runtime");
  return x;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

int body(int argc, char** argv) {
  CliOptions cli("xnnpack_peer", "XNNPACK on a trim model's layer shapes, timed in alternation with trim's engine.\n"
                                 "MODEL: a .model file or a built-in name (as bench/latency).");
  cli.positional_args("MODEL", "a .model file or a built-in name (as bench/latency)");
  cli.option("runs", "50", "timed runs of each engine");
  cli.option("warmup", "5", "untimed runs of each first");
  cli.option("threads", "1", "threads of each engine");
  cli.option("only", "", "run only this engine's loop: xnnpack or trim (for instruction counting)");
  if (!cli.parse(argc, argv)) {
    std::printf("%s", cli.usage().c_str());
    return 0;
  }
  if (cli.positional().size() != 1) throw Error("xnnpack_peer takes exactly one MODEL");
  const std::string spec = cli.positional()[0], only = cli.str("only");
  if (!only.empty() && only != "xnnpack" && only != "trim") throw Error("--only must be xnnpack or trim, not '" + only + "'");
  const int runs = std::max(0, cli.integer("runs")), warmup = std::max(0, cli.integer("warmup"));
  const int threads = std::max(1, cli.integer("threads"));
  Model model = load_model_spec(spec);
  const Shape in_shape = model.input;
  const int c = in_shape[0], pixels = in_shape[1] * in_shape[2];
  std::vector<float> in(in_shape.numel()), in_nhwc(in.size());
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (auto& v : in) v = u(rng);
  for (int ch = 0; ch < c; ++ch)
    for (int p = 0; p < pixels; ++p) in_nhwc[static_cast<size_t>(p) * c + ch] = in[static_cast<size_t>(ch) * pixels + p];
  const size_t classes = model.output_shape().numel();
  std::vector<float> out_trim(classes), out_xnn(classes);

  const bool run_trim = only != "xnnpack", run_xnn = only != "trim";
  std::unique_ptr<InferenceEngine> engine;
  if (run_trim) {
    EngineOptions o;
    o.threads = threads;
    engine.reset(new InferenceEngine(model, o));
  }
  std::unique_ptr<XnnModel> xm;
  pthreadpool_t pool = nullptr;
  if (run_xnn) {
    check(xnn_initialize(nullptr), "initialize");
    xm = build_xnn(model);
    if (threads > 1) {
      pool = pthreadpool_create(static_cast<size_t>(threads));
      xnn_delete_runtime(xm->runtime);
      xm->runtime = nullptr;
      check(xnn_create_runtime_v2(xm->subgraph, pool, 0, &xm->runtime), "create runtime with threads");
    }
    const xnn_external_value ext[2] = {{xm->input_id, in_nhwc.data()}, {xm->output_id, out_xnn.data()}};
    check(xnn_setup_runtime(xm->runtime, 2, ext), "setup runtime");
  }
  using clk = std::chrono::steady_clock;
  std::vector<double> ms_trim, ms_xnn;
  for (int r = 0; r < warmup + runs; ++r) {
    if (run_trim) {
      const auto t0 = clk::now();
      engine->run(in.data(), out_trim.data());
      if (r >= warmup) ms_trim.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    }
    if (run_xnn) {
      const auto t0 = clk::now();
      check(xnn_invoke_runtime(xm->runtime), "invoke runtime");
      if (r >= warmup) ms_xnn.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    }
  }
  std::printf("{\"model\": \"%s\", \"threads\": %d, \"runs\": %d, \"macs\": %lld", spec.c_str(), threads, runs,
              static_cast<long long>(model.macs()));
  if (run_trim) std::printf(", \"trim_isa\": \"%s\", \"trim_median_ms\": %.5f", engine->isa(), median(ms_trim));
  if (run_xnn) std::printf(", \"xnnpack_layers\": %d, \"xnnpack_median_ms\": %.5f", xm->layers_mapped, median(ms_xnn));
  if (run_trim && run_xnn && runs + warmup > 0) {
    double diff = 0, scale = 1e-30;
    for (size_t j = 0; j < classes; ++j) {
      diff = std::max(diff, static_cast<double>(std::fabs(out_trim[j] - out_xnn[j])));
      scale = std::max(scale, static_cast<double>(std::fabs(out_trim[j])));
    }
    std::printf(", \"trim_over_xnnpack\": %.4f, \"logits_max_rel_diff\": %.3g", median(ms_trim) / median(ms_xnn), diff / scale);
  }
  std::printf("}\n");
  xm.reset();
  if (pool) pthreadpool_destroy(pool);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return trim::run_tool("xnnpack_peer", body, argc, argv); }
