// Model inputs from JSON ({"input_ids": [[..]], "attention_mask": [[..]], "token_type_ids": [[..]]}),
// validated against a config: rectangular, ids inside the vocabulary, token types inside
// type_vocab_size, mask values 0/1, length within max_position_embeddings.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include "model/config.h"

namespace lth::model {

struct BatchInputs {
  at::Tensor input_ids;       // [B, L] int64
  at::Tensor attention_mask;  // [B, L] int64 (defaults to ones)
  at::Tensor token_type_ids;  // [B, L] int64 (defaults to zeros)
};

// `source` names the file in error messages.
BatchInputs inputs_from_json(const nlohmann::json& j, const BertConfig& config, const std::string& source);
// Reads and checks an inputs file (`lth forward --inputs`); IoError naming `path`.
BatchInputs read_inputs_file(const std::string& path, const BertConfig& config);

}  // namespace lth::model
