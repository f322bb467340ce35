// Where the fixtures of today's transformers are: the committed ones for the shared tiny checkpoints
// (tests/fixtures/hf-current, scripts/gen-fixtures tiny) and, for a fetched real checkpoint
// (scripts/fetch-model), the oracle scripts/gen-fixtures real writes at test time (ctest fixture).
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "core/file.h"
#include "tests/testing.h"

namespace lth::testing {

inline std::string current_fixture(const std::string& rel = "") {
  return source_dir() + "/tests/fixtures/hf-current/" + rel;
}

inline std::string real_model_name() { return "all-minilm-l6-v2"; }

// models/all-minilm-l6-v2 of the source tree (LTH_REAL_MODEL overrides); "" when not fetched.
inline std::string real_model_dir() {
  const char* env = std::getenv("LTH_REAL_MODEL");
  const std::string dir = env && *env ? std::string(env) : source_dir() + "/models/" + real_model_name();
  return path_exists(dir + "/config.json") ? dir : "";
}

// The oracle scripts/gen-fixtures real wrote for it (LTH_REAL_ORACLE, set by ctest).
inline std::string real_oracle(const std::string& rel) {
  const char* env = std::getenv("LTH_REAL_ORACLE");
  return std::string(env && *env ? env : "fixtures/real") + "/" + rel;
}

inline std::string real_model_skip_message() {
  return "SKIPPED: the real checkpoint is not fetched (models/" + real_model_name() +
         "/ missing); run `make model` (scripts/fetch-model " + real_model_name() + ") and ctest again";
}

// For a case on the fetched real checkpoint: its directory, after requiring that the oracle file
// `rel` exists; "" (after a doctest warning that says how to fetch it) when it is not fetched, and
// the caller returns: skipped loudly, never passed silently.
inline std::string real_model_with_oracle(const std::string& rel) {
  const std::string dir = real_model_dir();
  if (dir.empty()) {
    WARN_MESSAGE(false, real_model_skip_message());
    return "";
  }
  const std::string oracle = real_oracle(rel);
  REQUIRE_MESSAGE(path_exists(oracle), oracle << " missing although " << dir
                                              << " is fetched: the ctest step gen_real_oracle "
                                                 "(scripts/gen-fixtures real, needs .venv) did not run");
  return dir;
}

}  // namespace lth::testing
