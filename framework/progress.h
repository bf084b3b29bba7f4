// progress.h - progress of a long loop on stderr: on a terminal one line rewritten in place
// (batch n/N, loss, accuracy, images/s, ETA), otherwise a plain line every 10% (logs, CI).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace trim {

class Progress {
 public:
  Progress(std::string label, size_t total, bool enabled = true);
  // done: steps finished; items: samples processed so far; loss/acc < 0 are not printed.
  void update(size_t done, size_t items, double loss = -1, double acc = -1);
  void finish();  // clears the in-place line

 private:
  std::string label_;
  size_t total_;
  bool enabled_, tty_;
  size_t next_plain_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace trim
