#include "framework/evaluate.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "framework/communicator.h"
#include "framework/loss.h"
#include "framework/threads.h"

namespace trim {

std::vector<double> EvalResult::per_class() const {
  std::vector<double> r;
  for (const auto& row : confusion) {
    int64_t tot = 0;
    for (int64_t v : row) tot += v;
    size_t i = r.size();
    r.push_back(tot ? static_cast<double>(row[i]) / static_cast<double>(tot) : 0.0);
  }
  return r;
}

std::string EvalResult::report(const std::vector<std::string>& names) const {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2);
  s << "samples " << samples << "  loss " << std::setprecision(4) << loss << std::setprecision(2) << "  top-1 "
    << 100 * top1 << "%  top-5 " << 100 * top5 << "%\n";
  auto pc = per_class();
  s << "per-class accuracy:\n";
  for (size_t c = 0; c < pc.size(); ++c)
    s << "  " << std::setw(3) << c << " " << std::left << std::setw(16) << (c < names.size() ? names[c] : "")
      << std::right << std::setw(7) << 100 * pc[c] << "%\n";
  if (confusion.size() <= 20) {
    s << "confusion matrix (rows: true class, columns: predicted):\n     ";
    for (size_t c = 0; c < confusion.size(); ++c) s << std::setw(6) << c;
    s << "\n";
    for (size_t r = 0; r < confusion.size(); ++r) {
      s << std::setw(5) << r;
      for (int64_t v : confusion[r]) s << std::setw(6) << v;
      s << "\n";
    }
  }
  return s.str();
}

EvalResult evaluate(Model& model, BatchSource& data, int threads, Communicator* comm) {
  ThreadScope scope(threads);
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Eval;
  ctx.workspace = &ws;
  const int k = model.classes();
  EvalResult r;
  r.confusion.assign(static_cast<size_t>(k), std::vector<int64_t>(static_cast<size_t>(k), 0));
  Tensor images;
  std::vector<int> labels;
  double loss_sum = 0;
  size_t top1 = 0, top5 = 0;
  data.start_epoch(0);
  while (data.next(images, labels)) {
    if (labels.empty()) continue;  // a process's empty share of a small last batch
    const Tensor& logits = model.forward(images, ctx);
    const size_t n = labels.size();
    loss_sum += softmax_cross_entropy(nullptr, nullptr, logits, labels) * static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) {
      const float* z = logits.data() + i * static_cast<size_t>(k);
      int pred = static_cast<int>(std::max_element(z, z + k) - z);
      int y = labels[i];
      r.confusion[static_cast<size_t>(y)][static_cast<size_t>(pred)]++;
      if (pred == y) ++top1;
      int higher = 0;  // classes scoring strictly above the true one
      for (int c = 0; c < k; ++c) higher += z[c] > z[y];
      if (higher < 5) ++top5;
    }
    r.samples += n;
  }
  if (comm && comm->size() > 1) {
    // Counts below 2^53 are exact in doubles.
    std::vector<double> v = {loss_sum, static_cast<double>(top1), static_cast<double>(top5), static_cast<double>(r.samples)};
    for (const auto& row : r.confusion)
      for (int64_t c : row) v.push_back(static_cast<double>(c));
    comm->sum(v.data(), v.size(), "evaluation");
    loss_sum = v[0];
    top1 = static_cast<size_t>(v[1]);
    top5 = static_cast<size_t>(v[2]);
    r.samples = static_cast<size_t>(v[3]);
    size_t i = 4;
    for (auto& row : r.confusion)
      for (int64_t& c : row) c = static_cast<int64_t>(v[i++]);
  }
  if (r.samples == 0) throw Error("evaluation data set is empty");
  r.loss = loss_sum / static_cast<double>(r.samples);
  r.top1 = static_cast<double>(top1) / static_cast<double>(r.samples);
  r.top5 = static_cast<double>(top5) / static_cast<double>(r.samples);
  return r;
}

}  // namespace trim
