// json_writer.h - the one JSON writer of the project (reports, benchmark output, the peers
// protocol): objects, arrays, strings escaped per RFC 8259 (quote, backslash and every control
// character), numbers written so they read back, and non-finite numbers or a missing optional
// written as null (JSON has no NaN or Infinity). Pretty (indented, for files people read) or
// compact (one line, for line-based protocols).
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

namespace trim {

// s as a JSON string literal, quotes included.
std::string json_quote(const std::string& s);

class JsonWriter {
 public:
  explicit JsonWriter(bool pretty = true) : pretty_(pretty) {}
  std::string str() const { return s_.str(); }

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void key(const std::string& k);

  void value(const std::string& v);
  void value(const char* v) { value(std::string(v)); }
  void value(double v);  // non-finite: null
  void value(float v) { value(static_cast<double>(v)); }
  void value(int64_t v);
  void value(int v) { value(static_cast<int64_t>(v)); }
  void value(long long v) { value(static_cast<int64_t>(v)); }
  void value(unsigned long v) { value(static_cast<int64_t>(v)); }
  void value(unsigned long long v) { value(static_cast<int64_t>(v)); }
  void value(bool v);
  void value(const std::optional<double>& v);  // nullopt: null ("not measured")
  void null();

  template <class T>
  void kv(const std::string& k, const T& v) {
    key(k);
    value(v);
  }

 private:
  void open(char c);
  void close(char c);
  void separate();
  void newline();
  std::ostringstream s_;
  bool pretty_;
  bool first_ = true, after_key_ = false;
  int depth_ = 0;
};

}  // namespace trim
