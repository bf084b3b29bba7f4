#include "framework/cli_options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "framework/blas.h"
#include "framework/option_values.h"
#include "framework/tensor.h"

namespace trim {

namespace {
struct UsageError : Error {
  using Error::Error;
};
}  // namespace

CliOptions::CliOptions(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void CliOptions::option(const std::string& name, const std::string& dflt, const std::string& help) {
  order_.push_back(name);
  opts_[name] = Opt{dflt, help, false, false};
}

void CliOptions::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  opts_[name] = Opt{"0", help, true, false};
}

void CliOptions::positional_args(const std::string& name, const std::string& help) {
  positional_name_ = name;
  positional_help_ = help;
}

bool CliOptions::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return false;
    if (a.rfind("--", 0) != 0 || a == "--") {
      if (positional_name_.empty())
        throw UsageError("unexpected argument '" + a + "' (options are --name value; see --help)");
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = opts_.find(name);
    if (it == opts_.end()) throw UsageError("unknown option --" + name + " (see --help)");
    if (it->second.is_flag) {
      it->second.value = has_value ? value : "1";
    } else {
      if (!has_value) {
        if (i + 1 >= argc) throw UsageError("option --" + name + " needs a value");
        value = argv[++i];
      }
      it->second.value = value;
    }
    it->second.given = true;
  }
  return true;
}

std::string CliOptions::usage() const {
  std::ostringstream s;
  s << "usage: " << program_ << " [options]" << (positional_name_.empty() ? "" : " " + positional_name_) << "\n"
    << summary_ << "\n\n";
  if (!positional_name_.empty()) s << positional_name_ << ": " << positional_help_ << "\n\n";
  s << "options:\n";
  for (const auto& n : order_) {
    const Opt& o = opts_.at(n);
    std::string left = "  --" + n + (o.is_flag ? "" : " <v>");
    s << left << std::string(left.size() < 26 ? 26 - left.size() : 1, ' ') << o.help;
    if (!o.is_flag && !o.value.empty()) s << " (default: " << o.value << ")";
    s << "\n";
  }
  return s.str();
}

const CliOptions::Opt& CliOptions::get(const std::string& name) const {
  auto it = opts_.find(name);
  if (it == opts_.end()) throw Error("internal: option --" + name + " was never declared");
  return it->second;
}

std::string CliOptions::str(const std::string& name) const { return get(name).value; }

int CliOptions::integer(const std::string& name) const {
  const std::string& v = get(name).value;
  errno = 0;
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno == ERANGE || x < -(1L << 30) || x > (1L << 30))
    throw UsageError("option --" + name + " must be an integer, got '" + v + "'");
  return static_cast<int>(x);
}

double CliOptions::number(const std::string& name) const {
  const std::string& v = get(name).value;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !std::isfinite(x)) throw UsageError("option --" + name + " must be a number, got '" + v + "'");
  return x;
}

int CliOptions::integer(const std::string& name, long lo, long hi) const {
  try {
    return static_cast<int>(parse_int_in(get(name).value, "option --" + name, lo, hi));
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

double CliOptions::number(const std::string& name, double lo, double hi, bool lo_open, bool hi_open) const {
  try {
    return parse_double_in(get(name).value, "option --" + name, lo, hi, lo_open, hi_open);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

int CliOptions::threads(const std::string& name) const { return integer(name, 0, kMaxThreads); }

std::string CliOptions::output_path(const std::string& name) const {
  const std::string& v = get(name).value;
  if (v.empty()) throw UsageError("option --" + name + " is empty (give a folder, e.g. runs/name)");
  if (v.find_first_not_of('/') == std::string::npos)
    throw UsageError("option --" + name + " '" + v + "' is the file system root; give a folder below it");
  return v;
}

bool CliOptions::on(const std::string& name) const {
  const std::string& v = get(name).value;
  if (v.empty()) return false;
  try {
    return parse_bool(v, "option --" + name);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

bool CliOptions::given(const std::string& name) const { return get(name).given; }

std::vector<int> CliOptions::int_list(const std::string& name) const {
  std::vector<int> out;
  std::stringstream ss(get(name).value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    char* end = nullptr;
    long x = std::strtol(item.c_str(), &end, 10);
    if (*end || x < 0 || x > 1000000) throw UsageError("option --" + name + ": bad list item '" + item + "'");
    out.push_back(static_cast<int>(x));
  }
  return out;
}

void CliOptions::set(const std::string& name, const std::string& value) {
  auto it = opts_.find(name);
  if (it == opts_.end()) throw Error("unknown option --" + name);
  it->second.value = value;
}

int run_tool(const char* program, int (*body)(int, char**), int argc, char** argv) {
  prefer_fast_blas_core(argv);
  try {
    return body(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace trim
