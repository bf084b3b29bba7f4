// fuzz_target.h - one entry point per parser of outside input, shared by the libFuzzer targets
// (fuzz/CMakeLists.txt, -fsanitize=fuzzer) and the normal test suite
// (tests/test_fuzz_regressions.cpp replays fuzz/corpus/* and fuzz/regressions/* through them).
//
// A target file says
//     TRIM_FUZZ_TARGET(model_desc) { ... return parsed(...); }
// and its body returns true when the input was accepted, false when the parser rejected it with
// trim::Error (the expected outcome for bad input). Anything else - another exception type, a
// crash, a sanitizer report, an assertion in the target - is a bug: libFuzzer reports it, and
// the replay test fails on it.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace trim {
namespace fuzz {

using EntryPoint = bool (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // = the folder name under fuzz/corpus and fuzz/regressions
  EntryPoint run;
};

inline std::vector<Target>& registry() {
  static std::vector<Target> targets;
  return targets;
}

struct Registration {
  Registration(const char* name, EntryPoint run) { registry().push_back(Target{name, run}); }
};

// Runs a parser; true when it accepted the input, false when it threw trim::Error.
template <class F>
bool accepted(F&& parse) {
  try {
    parse();
    return true;
  } catch (const Error&) {
    return false;
  }
}

// An invariant of the target itself failed (a round trip that does not round-trip...): abort so
// libFuzzer keeps the input, print what broke so the replay test can say it.
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

// An in-memory file with a path (/proc/self/fd/N) for parsers that only take paths. Rewritten
// for every input: no disk traffic, nothing left behind.
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) invariant_failed("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& set(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) invariant_failed("ftruncate failed");
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) invariant_failed("pwrite failed");
      done += static_cast<size_t>(n);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace fuzz
}  // namespace trim

#ifdef TRIM_LIBFUZZER
#define TRIM_FUZZ_TARGET(name)                                                \
  static bool trim_fuzz_entry(const uint8_t* data, size_t size);              \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {   \
    trim_fuzz_entry(data, size);                                              \
    return 0;                                                                 \
  }                                                                           \
  static bool trim_fuzz_entry(const uint8_t* data, size_t size)
#else
#define TRIM_FUZZ_TARGET(name)                                                          \
  static bool trim_fuzz_entry(const uint8_t* data, size_t size);                        \
  static const ::trim::fuzz::Registration trim_fuzz_registration(#name, &trim_fuzz_entry); \
  static bool trim_fuzz_entry(const uint8_t* data, size_t size)
#endif
