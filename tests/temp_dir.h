// temp_dir.h - a fresh temporary folder per test, removed afterwards.
#pragma once

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace trim {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/trim-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    if (!p) ADD_FAILURE() << "mkdtemp failed";
    path_ = p ? p : "/tmp";
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace trim
