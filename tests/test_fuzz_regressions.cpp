// Replays the fuzz corpora through the fuzz targets' own entry points (fuzz/fuzz_*.cpp, linked
// into this test by tests/CMakeLists.txt) in the normal build - and under AddressSanitizer and
// UBSan with `make test SANITIZE=1`: every seed in fuzz/corpus/<target>/ and every input a
// fuzzer once crashed on, kept in fuzz/regressions/<target>/, must be handled without a crash.
// Rejecting an input with trim::Error is fine; any other exception fails the test, and a crash
// or a broken invariant of a target aborts it (the file being replayed is printed first).
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "fuzz/fuzz_target.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TRIM_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TRIM_TEST_ASAN 1
#endif
#ifdef TRIM_TEST_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace fs = std::filesystem;

namespace trim {
namespace {

const std::string kFuzzDir = std::string(TRIM_SOURCE_DIR) + "/fuzz";

#ifdef TRIM_TEST_ASAN
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

// The file being replayed, for the abort handler (a crash must still name its input).
char g_current[4096];
void say_current(int sig) {
  const char head[] = "\ntest_fuzz_regressions: crashed while replaying ";
  ssize_t ignored = ::write(2, head, sizeof head - 1);
  ignored = ::write(2, g_current, std::strlen(g_current));
  ignored = ::write(2, "\n", 1);
  (void)ignored;
  if (sig == 0) return;  // a sanitizer's death callback: it exits by itself
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

const fuzz::Target* find_target(const std::string& name) {
  for (const auto& t : fuzz::registry())
    if (name == t.name) return &t;
  return nullptr;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Returns whether the target accepted the file; fails the test on an escaping exception.
bool replay(const fuzz::Target& t, const std::string& path) {
  std::snprintf(g_current, sizeof g_current, "%s", path.c_str());
  const std::string b = bytes_of(path);
  try {
    return t.run(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": fuzz_" << t.name << " let an exception other than trim::Error escape: " << e.what();
  } catch (...) {
    ADD_FAILURE() << path << ": fuzz_" << t.name << " let a non-std exception escape";
  }
  return false;
}

#ifdef TRIM_TEST_ASAN
void say_current_on_death() { say_current(0); }
const bool g_death_callback = [] {
  __sanitizer_set_death_callback(say_current_on_death);
  return true;
}();
#endif

class FuzzRegressions : public ::testing::Test {
 protected:
  // Under the sanitizers their death callback names the input; SIGSEGV stays theirs.
  void SetUp() override {
    std::signal(SIGABRT, say_current);
    if (!kAsan) std::signal(SIGSEGV, say_current);
  }
  void TearDown() override {
    std::signal(SIGABRT, SIG_DFL);
    if (!kAsan) std::signal(SIGSEGV, SIG_DFL);
  }
};

TEST_F(FuzzRegressions, EveryTargetHasSeedsAndEveryFolderATarget) {
  std::set<std::string> expected = {"model_desc", "weights", "prune_config", "idx", "image", "val_labels"};
#ifdef TRIM_HAVE_ONNX
  expected.insert("onnx");  // fuzz_onnx is built only with libonnx-dev
#endif
  std::set<std::string> registered;
  for (const auto& t : fuzz::registry()) registered.insert(t.name);
  EXPECT_EQ(registered, expected);
  for (const auto& name : registered) {
    size_t valid = 0;
    for (const auto& f : files_in(kFuzzDir + "/corpus/" + name))
      if (fs::path(f).filename().string().rfind("valid-", 0) == 0) ++valid;
    EXPECT_GE(valid, 2u) << "fuzz/corpus/" << name << " needs valid seeds (fuzz/run.sh --seeds)";
  }
  for (const char* kind : {"corpus", "regressions"})
    for (const auto& e : fs::directory_iterator(kFuzzDir + "/" + kind)) {
      if (e.is_directory()) {
#ifndef TRIM_HAVE_ONNX
        if (e.path().filename() == "onnx") continue;
#endif
        EXPECT_TRUE(find_target(e.path().filename().string()))
            << "fuzz/" << kind << "/" << e.path().filename().string() << " has no fuzz target";
      }
    }
}

TEST_F(FuzzRegressions, ValidSeedsAreAccepted) {
  size_t n = 0;
  for (const auto& t : fuzz::registry())
    for (const auto& f : files_in(kFuzzDir + "/corpus/" + t.name))
      if (fs::path(f).filename().string().rfind("valid-", 0) == 0) {
        EXPECT_TRUE(replay(t, f)) << f << " is a valid seed but fuzz_" << t.name << " rejects it";
        ++n;
      }
  EXPECT_GE(n, 12u);
}

TEST_F(FuzzRegressions, CorpusAndCrashInputsReplayWithoutCrashing) {
  std::map<std::string, size_t> counts;
  for (const auto& t : fuzz::registry())
    for (const char* kind : {"corpus", "regressions"})
      for (const auto& f : files_in(kFuzzDir + "/" + kind + "/" + t.name)) {
        replay(t, f);
        ++counts[kind];
      }
  EXPECT_GT(counts["corpus"], 0u);
  std::printf("replayed %zu corpus and %zu regression inputs\n", counts["corpus"], counts["regressions"]);
}

}  // namespace
}  // namespace trim
