// Loading a Bert from a Hugging Face checkpoint directory and saving it back in HF format.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/bert.h"

namespace lth::model {

struct LoadOptions {
  // The head to build. Unset: the one `architectures` in config.json names.
  std::optional<HeadKind> head;
  // Labels for a classification head (size = num_labels). Unset: the checkpoint's id2label.
  std::optional<std::vector<std::string>> labels;
  // Config overrides applied before the model is built (e.g. dropout 0 for tests).
  std::optional<double> hidden_dropout_prob, attention_probs_dropout_prob;
};

struct LoadReport {
  std::string format;                     // "safetensors", "bin", ...
  std::vector<std::string> new_parameters;  // initialised here (a new task head), not loaded
  std::vector<std::string> ignored;         // checkpoint tensors of another head, not used
};

// Loads strictly: every encoder parameter must be in the checkpoint, and every checkpoint tensor
// must be used (or belong to a known task head that the chosen head does not use). Only a newly
// created head (and pooler) may be missing; what was created is listed in the report and logged.
// All missing and unexpected keys are reported in ONE error. Accepts keys with or without the
// "bert." prefix and the old LayerNorm names gamma/beta. Tensors are converted to float32.
Bert load_pretrained(const std::string& dir, const LoadOptions& options = {}, LoadReport* report = nullptr);

// The encoder parameters (HF names, "bert." prefix) and shapes a config implies; no tensor is made.
std::vector<std::pair<std::string, std::vector<int64_t>>> encoder_shapes(const BertConfig& config);

// Checks a config against a checkpoint's tensor names and shapes (keys normalised as load_pretrained
// does), before any model is built: layer count, every encoder tensor present with the implied
// shape. Throws IoError naming both files with every problem on one bounded line.
void check_config_fits_checkpoint(const BertConfig& config, const std::map<std::string, std::vector<int64_t>>& shapes,
                                  const std::string& config_path, const std::string& weights_path);

// Writes `dir`/config.json and `dir`/model.safetensors as transformers writes them (tied MLM
// decoder aliases omitted; a plain encoder without the "bert." prefix). When `tokenizer_from`
// names a directory, its vocab.txt / tokenizer_config.json / special_tokens_map.json /
// *.model files are copied too. Files are written atomically.
void save_pretrained(Bert& model, const std::string& dir, const std::string& tokenizer_from = "");

// The state dict with HF's names (what save_pretrained writes), in registration order.
std::vector<std::pair<std::string, at::Tensor>> hf_state_dict(Bert& model);

// --max-length for a checkpoint: `max_length`, or the model's max_position_embeddings when that is
// smaller (with a warning naming the model directory).
int64_t fit_max_length(const std::string& dir, int64_t max_length);

// Copies tokenizer files (vocab.txt, tokenizer_config.json, special_tokens_map.json, *.model)
// from one directory to another.
void copy_tokenizer_files(const std::string& from, const std::string& to);

}  // namespace lth::model
