// Shared test helpers: where ../shared and the lth binary are, temporary directories, running the CLI.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lth::testing {

// ../shared (from LTH_SHARED, set by ctest).
std::string shared_dir();
// A file of the tiny Hugging Face BERT fixture, ../shared/fixtures/hf-bert/<rel>.
std::string hf_fixture(const std::string& rel = "");
// The lth binary (from LTH_BINARY, set by ctest).
std::string lth_binary();
// The source tree (from LTH_SOURCE).
std::string source_dir();
// A fresh empty directory under the test's working directory, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs `lth <args>` through /bin/sh (args are already shell-quoted by the caller when needed).
RunResult run_lth(const std::string& args);

// Starts lth with `args` in the background (stdout and stderr to `log_dir`/stdout and /stderr);
// returns the child's pid.
int spawn_lth(const std::vector<std::string>& args, const std::string& log_dir);
struct Exit {
  int code = -1;  // exit status, or -1 when killed by a signal
  int signal = 0;
};
// Waits for the child `pid` to end.
Exit wait_exit(int pid);
// Polls (1 ms) until `path` exists or the child `pid` ends; true when the file appeared while it ran.
bool wait_for_file(const std::string& path, int pid, int timeout_seconds = 120);
// How many files under `dir` (not recursive) are leftover atomic-write temporaries (*.tmp.*).
int temp_files_in(const std::string& dir);
// Shell-quotes one argument.
std::string quote(const std::string& arg);
// Every line of a JSON-lines file (metrics.jsonl), parsed.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

// The message of the `E` that `fn` throws, or "<no error>" when it returns normally (so a check on
// the message fails). Any other exception propagates and fails the test case.
template <typename E = lth::Error>
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace lth::testing
