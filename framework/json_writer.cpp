#include "framework/json_writer.h"

#include <cmath>
#include <cstdio>

namespace trim {

std::string json_quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      case '\b': o += "\\b"; break;
      case '\f': o += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

void JsonWriter::open(char c) {
  separate();
  s_ << c;
  first_ = true;
  ++depth_;
}

void JsonWriter::close(char c) {
  --depth_;
  if (!first_) newline();
  s_ << c;
  first_ = false;
}

void JsonWriter::key(const std::string& k) {
  separate();
  s_ << json_quote(k) << ": ";
  after_key_ = true;
}

void JsonWriter::value(const std::string& v) {
  separate();
  s_ << json_quote(v);
}

void JsonWriter::value(double v) {
  separate();
  if (!std::isfinite(v)) {
    s_ << "null";
    return;
  }
  char b[40];
  std::snprintf(b, sizeof b, "%.10g", v);
  s_ << b;
}

void JsonWriter::value(int64_t v) {
  separate();
  s_ << v;
}

void JsonWriter::value(bool v) {
  separate();
  s_ << (v ? "true" : "false");
}

void JsonWriter::value(const std::optional<double>& v) {
  if (v) value(*v);
  else null();
}

void JsonWriter::null() {
  separate();
  s_ << "null";
}

void JsonWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_) s_ << (pretty_ ? "," : ", ");
  first_ = false;
  if (depth_ > 0) newline();
}

void JsonWriter::newline() {
  if (pretty_) s_ << "\n" << std::string(static_cast<size_t>(2 * depth_), ' ');
}

}  // namespace trim
