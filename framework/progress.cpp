#include "framework/progress.h"

#include <unistd.h>

#include <cstdio>

namespace trim {

Progress::Progress(std::string label, size_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(::isatty(2) != 0),
      start_(std::chrono::steady_clock::now()), last_(start_) {
  next_plain_ = total_ / 10;
}

void Progress::update(size_t done, size_t items, double loss, double acc) {
  if (!enabled_ || total_ == 0) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  } else {
    if (done < next_plain_ || done >= total_) return;
    next_plain_ += (total_ + 9) / 10;
  }
  last_ = now;
  double s = std::chrono::duration<double>(now - start_).count();
  double rate = s > 0 ? static_cast<double>(items) / s : 0;
  double eta = done > 0 ? s * static_cast<double>(total_ - done) / static_cast<double>(done) : 0;
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "%s: batch %zu/%zu", label_.c_str(), done, total_);
  if (loss >= 0) n += std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), "  loss %.4f", loss);
  if (acc >= 0) n += std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), "  acc %.2f%%", 100 * acc);
  std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), "  %.0f img/s  ETA %.0f s", rate, eta);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", buf);
  else
    std::fprintf(stderr, "%s\n", buf);
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_ && tty_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace trim
