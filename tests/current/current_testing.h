// Where the fixtures of today's transformers are: the committed ones for the shared tiny checkpoints
// (tests/fixtures/hf-current, scripts/gen-fixtures tiny) and, for a fetched real checkpoint
// (scripts/fetch-model), the oracle scripts/gen-fixtures real writes at test time (ctest fixture).
#pragma once

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

}  // namespace lth::testing
