#include "framework/option_values.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "framework/strings.h"
#include "framework/tensor.h"

namespace trim {

long parse_int_in(const std::string& v, const std::string& where, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0) throw Error(where + ": bad value '" + v + "' (expected an integer)");
  if (x < lo || x > hi)
    throw Error(where + ": " + v + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

double parse_double_in(const std::string& v, const std::string& where, double lo, double hi, bool lo_open,
                       bool hi_open) {
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(x))
    throw Error(where + ": bad value '" + v + "' (expected a finite number)");
  if ((lo_open ? x <= lo : x < lo) || (hi_open ? x >= hi : x > hi)) {
    std::ostringstream s;
    s << where << ": " << v << " is out of range " << (lo_open ? "(" : "[") << lo << ", " << hi << (hi_open ? ")" : "]");
    throw Error(s.str());
  }
  return x;
}

bool parse_bool(const std::string& v, const std::string& where) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw Error(where + ": bad value '" + v + "' (expected 1/0, true/false, yes/no)");
}

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim_ws(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<int> parse_int_list(const std::string& v, const std::string& where, long lo, long hi) {
  std::vector<int> out;
  for (const auto& s : split_list(v)) out.push_back(static_cast<int>(parse_int_in(s, where, lo, hi)));
  return out;
}

std::string one_of(const std::string& v, const std::vector<std::string>& allowed, const std::string& where) {
  for (const auto& a : allowed)
    if (v == a) return a;
  std::string known;
  for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
  throw Error(where + ": bad value '" + v + "' (expected one of: " + known + ")");
}

std::string format_number(double x) {
  for (int digits = 6;; ++digits) {
    std::ostringstream s;
    s.precision(digits);
    s << x;
    if (digits >= 17 || std::strtod(s.str().c_str(), nullptr) == x) return s.str();
  }
}

}  // namespace trim
