// Helpers shared by the io tests: fixture paths, raw byte files, error-message checks.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "tests/testing.h"

namespace lth::io::testing {

inline std::string fixture(const std::string& name) {
  return lth::testing::shared_dir() + "/fixtures/hf-bert/" + name;
}

inline const std::vector<std::string>& fixture_models() {
  static const std::vector<std::string> kModels = {"model", "model-qa", "model-token", "model-mlm"};
  return kModels;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(static_cast<bool>(out));
}

// Runs `fn`, which must throw lth::IoError whose message names `path` and contains `phrase`.
inline void expect_io_error(const std::function<void()>& fn, const std::string& path, const std::string& phrase) {
  std::string message;
  bool thrown = false;
  try {
    fn();
  } catch (const lth::IoError& e) {
    thrown = true;
    message = e.what();
  }
  if (std::getenv("LTH_IO_SHOW_ERRORS") != nullptr) std::fprintf(stderr, "%s\n", message.c_str());
  INFO("path: ", path, "; phrase: ", phrase, "; message: ", message);
  REQUIRE(thrown);
  CHECK(message.find(path) != std::string::npos);
  CHECK(message.find(phrase) != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);  // one line
}

// Same dtype, same shape, same bytes (NaN payloads and -0.0 included).
inline bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = static_cast<size_t>(ca.numel()) * ca.element_size();
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

// Names and shapes the fixture README lists for each checkpoint folder (state-dict order not implied).
inline std::vector<std::pair<std::string, std::vector<int64_t>>> expected_params(const std::string& model,
                                                                                bool with_tied_aliases) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> p = {
      {"bert.embeddings.LayerNorm.bias", {32}},
      {"bert.embeddings.LayerNorm.weight", {32}},
      {"bert.embeddings.position_embeddings.weight", {64, 32}},
      {"bert.embeddings.token_type_embeddings.weight", {2, 32}},
      {"bert.embeddings.word_embeddings.weight", {200, 32}},
  };
  for (int layer = 0; layer < 2; ++layer) {
    const std::string l = "bert.encoder.layer." + std::to_string(layer) + ".";
    const std::vector<std::pair<std::string, std::vector<int64_t>>> layer_params = {
        {"attention.output.LayerNorm.bias", {32}}, {"attention.output.LayerNorm.weight", {32}},
        {"attention.output.dense.bias", {32}},     {"attention.output.dense.weight", {32, 32}},
        {"attention.self.key.bias", {32}},         {"attention.self.key.weight", {32, 32}},
        {"attention.self.query.bias", {32}},       {"attention.self.query.weight", {32, 32}},
        {"attention.self.value.bias", {32}},       {"attention.self.value.weight", {32, 32}},
        {"intermediate.dense.bias", {64}},         {"intermediate.dense.weight", {64, 32}},
        {"output.LayerNorm.bias", {32}},           {"output.LayerNorm.weight", {32}},
        {"output.dense.bias", {32}},               {"output.dense.weight", {32, 64}},
    };
    for (const auto& [name, shape] : layer_params) p.emplace_back(l + name, shape);
  }
  if (model == "model") {
    p.push_back({"bert.pooler.dense.bias", {32}});
    p.push_back({"bert.pooler.dense.weight", {32, 32}});
    p.push_back({"classifier.bias", {3}});
    p.push_back({"classifier.weight", {3, 32}});
  } else if (model == "model-qa") {
    p.push_back({"qa_outputs.bias", {2}});
    p.push_back({"qa_outputs.weight", {2, 32}});
  } else if (model == "model-token") {
    p.push_back({"classifier.bias", {5}});
    p.push_back({"classifier.weight", {5, 32}});
  } else if (model == "model-mlm") {
    p.push_back({"cls.predictions.bias", {200}});
    p.push_back({"cls.predictions.transform.LayerNorm.bias", {32}});
    p.push_back({"cls.predictions.transform.LayerNorm.weight", {32}});
    p.push_back({"cls.predictions.transform.dense.bias", {32}});
    p.push_back({"cls.predictions.transform.dense.weight", {32, 32}});
    if (with_tied_aliases) {
      p.push_back({"cls.predictions.decoder.weight", {200, 32}});
      p.push_back({"cls.predictions.decoder.bias", {200}});
    }
  }
  return p;
}

// Checks that `tensors` holds exactly the expected names (any order) with the expected shapes, F32.
inline void check_names_and_shapes(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                   const std::string& model, bool with_tied_aliases) {
  const auto expected = expected_params(model, with_tied_aliases);
  CHECK(tensors.size() == expected.size());
  for (const auto& entry : expected) {
    const auto& name = entry.first;  // not a structured binding: INFO captures it in a lambda (C++17)
    const auto& shape = entry.second;
    INFO(model, ": ", name);
    int found = 0;
    for (const auto& [n, t] : tensors) {
      if (n != name) continue;
      ++found;
      CHECK(t.sizes().vec() == shape);
      CHECK((t.scalar_type() == torch::kFloat));
      CHECK(t.device().is_cpu());
    }
    CHECK(found == 1);
  }
}

inline const at::Tensor& find_tensor(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                     const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  FAIL("no tensor named ", name);
  static const at::Tensor kNone;
  return kNone;
}

}  // namespace lth::io::testing
