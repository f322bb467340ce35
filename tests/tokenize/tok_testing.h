// Helpers shared by the tokenizer tests.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "tests/testing.h"

namespace lth::testing {

inline std::string vocab_path(const std::string& model) { return shared_dir() + "/data/vocab/" + model + "/vocab.txt"; }
inline std::string tokenizer_fixture(const std::string& model) {
  return shared_dir() + "/fixtures/hf-bert/tokenizer/" + model + ".json";
}

}  // namespace lth::testing
