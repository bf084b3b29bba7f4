// option_values.h - parsing of the values people type (command-line options, config-file keys):
// strict numbers (the whole text, finite, in range), booleans, lists and choices. Every error is
// an Error starting with `where` ("option --lr", "cfg.ini:12: [finetune] lr") so the user sees
// which option or key, and why.
#pragma once

#include <string>
#include <vector>

namespace trim {

// The most compute threads (--threads, latency threads) or loader threads (--workers) a tool
// accepts: far above any machine trim targets, and low enough that OpenMP and the worker pools
// can start them (a value like 100000 made OpenMP fail inside a parallel region).
constexpr int kMaxThreads = 256;
constexpr int kMaxWorkers = 64;

long parse_int_in(const std::string& v, const std::string& where, long lo, long hi);
// lo_open / hi_open: the bound itself is excluded.
double parse_double_in(const std::string& v, const std::string& where, double lo, double hi, bool lo_open = false,
                       bool hi_open = false);
bool parse_bool(const std::string& v, const std::string& where);  // 1/0, true/false, yes/no, on/off
std::vector<std::string> split_list(const std::string& v);      // "a, b,,c" -> {a, b, c}
std::vector<int> parse_int_list(const std::string& v, const std::string& where, long lo, long hi);
std::string one_of(const std::string& v, const std::vector<std::string>& allowed, const std::string& where);

// The shortest decimal that reads back as x (at least 6 significant digits): settings written
// out (config.ini, --help defaults) parse again to the same values.
std::string format_number(double x);

}  // namespace trim
