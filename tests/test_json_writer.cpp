// The project's one JSON writer: every string it writes is valid JSON whatever it holds (quote,
// backslash, newline, every control character, bytes above 0x7f passed through as UTF-8), and
// numbers that JSON cannot hold (NaN, infinities) or that were not measured come out as null.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "framework/json_writer.h"

namespace trim {
namespace {

TEST(JsonWriter, EscapesQuotesBackslashesAndEveryControlCharacter) {
  EXPECT_EQ(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_quote("line1\nline2\r\t"), "\"line1\\nline2\\r\\t\"");
  EXPECT_EQ(json_quote(std::string("\x01\x1f\x7f\b\f", 5)), "\"\\u0001\\u001f\\u007f\\b\\f\"");
  EXPECT_EQ(json_quote(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(json_quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
  // No raw control character survives, for every byte below 0x20.
  std::string all;
  for (int c = 0; c < 0x20; ++c) all.push_back(static_cast<char>(c));
  for (char c : json_quote(all)) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << int(c);
}

TEST(JsonWriter, NonFiniteAndMissingNumbersAreNull) {
  JsonWriter j(false);
  j.begin_object();
  j.kv("nan", std::nan(""));
  j.kv("inf", std::numeric_limits<double>::infinity());
  j.kv("minus_inf", -std::numeric_limits<double>::infinity());
  j.kv("missing", std::optional<double>());
  j.kv("negative", std::optional<double>(-0.25));
  j.kv("big", int64_t(1) << 40);
  j.kv("flag", true);
  j.end_object();
  EXPECT_EQ(j.str(),
            "{\"nan\": null, \"inf\": null, \"minus_inf\": null, \"missing\": null, \"negative\": -0.25, "
            "\"big\": 1099511627776, \"flag\": true}");
}

TEST(JsonWriter, NestsObjectsAndArraysPrettyAndCompact) {
  for (bool pretty : {false, true}) {
    JsonWriter j(pretty);
    j.begin_object();
    j.key("list");
    j.begin_array();
    j.value(1);
    j.value("two\n");
    j.begin_object();
    j.end_object();
    j.end_array();
    j.key("empty");
    j.begin_array();
    j.end_array();
    j.end_object();
    std::string s = j.str();
    if (pretty) {
      EXPECT_EQ(s, "{\n  \"list\": [\n    1,\n    \"two\\n\",\n    {}\n  ],\n  \"empty\": []\n}");
    } else {
      EXPECT_EQ(s, "{\"list\": [1, \"two\\n\", {}], \"empty\": []}");
    }
  }
}

}  // namespace
}  // namespace trim
