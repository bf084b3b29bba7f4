#include "pruning/sensitivity.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>

#include "framework/progress.h"
#include "pruning/surgery.h"

namespace trim {

size_t SampleSet::size() const {
  size_t n = 0;
  for (const auto& l : labels) n += l.size();
  return n;
}

SampleSet load_samples(const Dataset& d, size_t max_samples, int batch) {
  if (batch <= 0) throw Error("load_samples: batch must be positive");
  const size_t total = d.size();
  const size_t n = max_samples == 0 || max_samples > total ? total : max_samples;
  if (n == 0) throw Error("load_samples: the data set '" + d.describe() + "' is empty");
  const Shape s = d.sample_shape();
  const size_t per = s.numel();
  SampleSet out;
  std::mt19937_64 rng(1);  // unused by the evaluation transform, but load() takes one
  for (size_t start = 0; start < n; start += static_cast<size_t>(batch)) {
    const int b = static_cast<int>(std::min<size_t>(static_cast<size_t>(batch), n - start));
    Tensor x(Shape{b, s[0], s[1], s[2]});
    std::vector<int> y(static_cast<size_t>(b));
    for (int i = 0; i < b; ++i) {
      // Evenly spaced, so a subset of a sorted or class-ordered split still sees every class.
      const size_t idx = (start + static_cast<size_t>(i)) * total / n;
      d.load(idx, x.data() + static_cast<size_t>(i) * per, false, rng);
      y[static_cast<size_t>(i)] = d.label(idx);
    }
    out.batches.push_back(std::move(x));
    out.labels.push_back(std::move(y));
  }
  return out;
}

namespace {

// Runs layers [from, end) of m on x; returns the last output (one of the two buffers). A graph
// model runs whole through Model::forward (from must be 0): its layers do not read one another
// in list order.
const Tensor& forward_from(Model& m, size_t from, const Tensor& x, Context& ctx, Tensor (&buf)[2]) {
  if (!m.is_chain()) {
    if (from != 0) throw Error("sensitivity: a graph model runs from its first layer only");
    return m.forward(x, ctx);
  }
  const Tensor* in = &x;
  for (size_t i = from; i < m.layers.size(); ++i) {
    Tensor& out = buf[(i - from) & 1];
    m.layers[i]->forward(out, *in, ctx);
    in = &out;
  }
  return *in;
}

size_t count_correct(const Tensor& logits, const std::vector<int>& labels) {
  const int k = logits.dim(1);
  size_t ok = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* z = logits.data() + i * static_cast<size_t>(k);
    int best = 0;
    for (int c = 1; c < k; ++c)
      if (z[c] > z[best]) best = c;
    ok += best == labels[i];
  }
  return ok;
}

}  // namespace

double accuracy(Model& m, const SampleSet& s) {
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Eval;
  ctx.workspace = &ws;
  Tensor buf[2];
  size_t ok = 0, n = 0;
  for (size_t b = 0; b < s.batches.size(); ++b) {
    ok += count_correct(forward_from(m, 0, s.batches[b], ctx, buf), s.labels[b]);
    n += s.labels[b].size();
  }
  if (n == 0) throw Error("accuracy: empty sample set");
  return static_cast<double>(ok) / static_cast<double>(n);
}

int channels_for_ratio(int channels, double ratio) {
  return static_cast<int>(std::lround(ratio * channels));
}

ScanResult sensitivity_scan(const Model& cm, const GroupAnalysis& a, const Criterion& crit, const SampleSet& data,
                            const ScanOptions& opt) {
  for (double r : opt.ratios)
    if (!(r > 0 && r < 1)) throw Error("sensitivity scan: ratio " + std::to_string(r) + " is not in (0, 1)");
  auto t0 = std::chrono::steady_clock::now();
  Model& m = const_cast<Model&>(cm);  // layer forward is not const; the weights are only read
  ScanResult res;
  res.criterion = crit.name();
  res.samples = data.size();
  res.base_acc = accuracy(m, data);
  const double nan = std::numeric_limits<double>::quiet_NaN();

  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Eval;
  ctx.workspace = &ws;
  Progress prog(opt.label, a.groups.size() * data.batches.size(), opt.progress);
  size_t step = 0, images = 0;
  for (const ChannelGroup& g : a.groups) {
    ScanCurve c;
    c.layer = g.name;
    c.channels = g.channels;
    c.ratios = opt.ratios;
    const std::vector<double> scores = crit.group_scores(m, g);
    std::vector<Model> pruned;
    std::vector<int> which;  // index into ratios of each pruned copy
    for (size_t k = 0; k < opt.ratios.size(); ++k) {
      const int n = channels_for_ratio(g.channels, opt.ratios[k]);
      if (n >= g.channels) {
        c.removed.push_back(-1);
        continue;
      }
      c.removed.push_back(n);
      ChannelRemoval rm;
      rm[g.name] = lowest_scores(scores, n);
      pruned.push_back(prune_channels(m, a, rm, 1));
      which.push_back(static_cast<int>(k));
    }
    std::vector<size_t> ok(pruned.size(), 0);
    Tensor prefix, buf[2];
    for (size_t b = 0; b < data.batches.size(); ++b) {
      // Everything before the source layer is the same in every copy: compute it once.
      const Tensor* x = &data.batches[b];
      if (g.source > 0 && m.is_chain()) {
        Tensor pb[2];
        const Tensor* in = x;
        for (int i = 0; i < g.source; ++i) {
          Tensor& out = pb[i & 1];
          m.layers[static_cast<size_t>(i)]->forward(out, *in, ctx);
          in = &out;
        }
        prefix = *in;
        x = &prefix;
      }
      for (size_t p = 0; p < pruned.size(); ++p)
        ok[p] += count_correct(forward_from(pruned[p], m.is_chain() ? static_cast<size_t>(g.source) : 0, *x, ctx, buf),
                               data.labels[b]);
      images += data.labels[b].size() * pruned.size();
      prog.update(++step, images);
    }
    c.acc.assign(opt.ratios.size(), nan);
    c.drop.assign(opt.ratios.size(), nan);
    for (size_t p = 0; p < pruned.size(); ++p) {
      const size_t k = static_cast<size_t>(which[p]);
      c.acc[k] = static_cast<double>(ok[p]) / static_cast<double>(res.samples);
      c.drop[k] = 100.0 * (res.base_acc - c.acc[k]);
    }
    res.layers.push_back(std::move(c));
  }
  prog.finish();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

std::string scan_csv(const ScanResult& s, int round, bool header) {
  std::ostringstream o;
  if (header) o << "round,layer,channels,ratio,removed,accuracy,drop_points\n";
  char line[256];
  for (const auto& c : s.layers)
    for (size_t k = 0; k < c.ratios.size(); ++k) {
      if (c.removed[k] < 0) {
        std::snprintf(line, sizeof line, "%d,%s,%d,%.4g,,,\n", round, c.layer.c_str(), c.channels, c.ratios[k]);
      } else {
        std::snprintf(line, sizeof line, "%d,%s,%d,%.4g,%d,%.6f,%.4f\n", round, c.layer.c_str(), c.channels,
                      c.ratios[k], c.removed[k], c.acc[k], c.drop[k]);
      }
      o << line;
    }
  return o.str();
}

}  // namespace trim
