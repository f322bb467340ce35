#include "model/inputs.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"

namespace lth::model {
namespace {

// Reads a list of equal-length integer lists into a [B, L] tensor.
at::Tensor matrix(const nlohmann::json& j, const char* key, const std::string& source, int64_t rows, int64_t cols) {
  LTH_CHECK(j.is_array(), IoError, "{}: '{}' must be a list of lists of integers", source, key);
  LTH_CHECK(static_cast<int64_t>(j.size()) == rows, IoError, "{}: '{}' has {} rows, input_ids has {}", source, key,
            j.size(), rows);
  auto out = torch::empty({rows, cols}, torch::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    const auto& row = j[static_cast<size_t>(r)];
    LTH_CHECK(row.is_array(), IoError, "{}: '{}' row {} is not a list", source, key, r);
    LTH_CHECK(static_cast<int64_t>(row.size()) == cols, IoError,
              "{}: '{}' row {} has {} values, expected {} (ragged inputs: pad every row to one length)", source, key, r,
              row.size(), cols);
    for (int64_t c = 0; c < cols; ++c) {
      const auto& v = row[static_cast<size_t>(c)];
      LTH_CHECK(v.is_number_integer(), IoError, "{}: '{}'[{}][{}] is not an integer: {}", source, key, r, c, clip(v.dump()));
      acc[r][c] = v.get<int64_t>();
    }
  }
  return out;
}

void check_range(const at::Tensor& t, const char* key, int64_t lo, int64_t hi, const std::string& source,
                 const char* what) {
  if (t.numel() == 0) return;
  auto bad = (t < lo).logical_or(t >= hi);
  if (bad.any().item<bool>()) {
    auto index = bad.nonzero()[0];
    const int64_t r = index[0].item<int64_t>(), c = index[1].item<int64_t>();
    LTH_FAIL(IoError, "{}: '{}'[{}][{}] = {} is outside {} [{}, {})", source, key, r, c, t[r][c].item<int64_t>(), what,
             lo, hi);
  }
}

}  // namespace

BatchInputs inputs_from_json(const nlohmann::json& j, const BertConfig& config, const std::string& source) {
  LTH_CHECK(j.is_object(), IoError, "{}: expected a JSON object with input_ids", source);
  auto ids = j.find("input_ids");
  LTH_CHECK(ids != j.end(), IoError, "{}: missing 'input_ids'", source);
  LTH_CHECK(ids->is_array() && !ids->empty(), IoError, "{}: 'input_ids' must be a non-empty list of lists", source);
  LTH_CHECK((*ids)[0].is_array(), IoError, "{}: 'input_ids' must be a list of lists of integers", source);
  const int64_t rows = static_cast<int64_t>(ids->size());
  const int64_t cols = static_cast<int64_t>((*ids)[0].size());
  LTH_CHECK(cols > 0, IoError, "{}: 'input_ids' rows are empty", source);
  LTH_CHECK(cols <= config.max_position_embeddings, IoError,
            "{}: sequences of length {} exceed max_position_embeddings {}", source, cols,
            config.max_position_embeddings);
  BatchInputs in;
  in.input_ids = matrix(*ids, "input_ids", source, rows, cols);
  check_range(in.input_ids, "input_ids", 0, config.vocab_size, source, "the vocabulary");
  auto mask = j.find("attention_mask");
  in.attention_mask = mask == j.end() ? torch::ones({rows, cols}, torch::kLong)
                                      : matrix(*mask, "attention_mask", source, rows, cols);
  check_range(in.attention_mask, "attention_mask", 0, 2, source, "the mask values");
  auto types = j.find("token_type_ids");
  in.token_type_ids = types == j.end() ? torch::zeros({rows, cols}, torch::kLong)
                                       : matrix(*types, "token_type_ids", source, rows, cols);
  check_range(in.token_type_ids, "token_type_ids", 0, config.type_vocab_size, source, "type_vocab_size");
  for (auto it = j.begin(); it != j.end(); ++it) {
    LTH_CHECK(it.key() == "input_ids" || it.key() == "attention_mask" || it.key() == "token_type_ids", IoError,
              "{}: unknown key '{}' (expected input_ids, attention_mask, token_type_ids)", source,
              clip(it.key()));
  }
  return in;
}

BatchInputs read_inputs_file(const std::string& path, const BertConfig& config) {
  return inputs_from_json(read_json_file(path), config, path);
}

}  // namespace lth::model
