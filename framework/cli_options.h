// cli_options.h - command-line options for trim's tools: --key value or --key=value, declared with
// a default and a help line. An unknown option, a malformed or out-of-range number, or a stray
// argument (unless the tool declares positional arguments) is an Error naming it.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace trim {

class CliOptions {
 public:
  CliOptions(std::string program, std::string summary);
  void option(const std::string& name, const std::string& dflt, const std::string& help);
  void flag(const std::string& name, const std::string& help);
  // Accept arguments that are not options (e.g. latency's MODEL...); without this call a stray
  // argument is an error, so a mistyped "-threads 2" does not pass unnoticed.
  void positional_args(const std::string& name, const std::string& help);
  // Returns false when --help was given (usage() then tells the user what to do).
  bool parse(int argc, char** argv);
  std::string usage() const;

  std::string str(const std::string& name) const;
  int integer(const std::string& name) const;
  double number(const std::string& name) const;
  // The same, in [lo, hi] (number: open bounds excluded); out of range is an error naming --name.
  int integer(const std::string& name, long lo, long hi) const;
  double number(const std::string& name, double lo, double hi, bool lo_open = false, bool hi_open = false) const;
  int threads(const std::string& name) const;  // 0 (all cores) .. kMaxThreads
  // An output path: refused when empty (it would write to the file system root) or "/".
  std::string output_path(const std::string& name) const;
  bool on(const std::string& name) const;          // flags
  bool given(const std::string& name) const;       // set on the command line
  std::vector<std::string> positional() const { return positional_; }
  std::vector<int> int_list(const std::string& name) const;  // "0,2,6" -> {0,2,6}; "" -> {}
  void set(const std::string& name, const std::string& value);  // e.g. from a config file

 private:
  struct Opt {
    std::string value, help;
    bool is_flag = false, given = false;
  };
  const Opt& get(const std::string& name) const;
  std::string program_, summary_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::vector<std::string> positional_;
  std::string positional_name_, positional_help_;
};

// Runs a tool's main body, turning trim::Error and other exceptions into "program: error: ..."
// on stderr and exit status 1 (2 for usage errors).
int run_tool(const char* program, int (*body)(int, char**), int argc, char** argv);

}  // namespace trim
