// scan_plot.h - the sensitivity scan as a picture a user can open in any browser: accuracy drop
// (points) against pruning ratio, one curve per layer, the threshold T as a dashed line. Two
// panels: the whole range, and a close-up around T where the choice is made.
#pragma once

#include <string>

#include "pruning/sensitivity.h"

namespace trim {

std::string scan_svg(const ScanResult& scan, double threshold, const std::string& title);

}  // namespace trim
