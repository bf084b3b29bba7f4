// strings.h - the small string operations every tool and library file needs: suffix tests,
// whitespace trimming and a percentage for people. One definition each, so that every caller
// trims and formats the same way.
#pragma once

#include <string>

namespace trim {

bool ends_with(const std::string& s, const std::string& suffix);
bool starts_with(const std::string& s, const std::string& prefix);

// Without leading and trailing spaces, tabs, carriage returns and newlines.
std::string trim_ws(const std::string& s);

// A fraction in [0, 1] as a percentage with two decimals: 0.9248 -> "92.48%".
std::string percent(double fraction);

}  // namespace trim
