// BertConfig: the typed view of a Hugging Face config.json for BERT. Settings that change the math
// and that lth does not implement are rejected by name.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lth::model {

enum class HeadKind { kNone, kSequenceClassification, kTokenClassification, kQuestionAnswering, kMaskedLM };

// "BertForSequenceClassification" etc.; kNone for "BertModel".
HeadKind head_from_architecture(const std::string& architecture);
std::string architecture_name(HeadKind head);
const char* head_name(HeadKind head);  // "sequence-classification", ...

enum class Activation { kGelu, kGeluTanh, kRelu, kSilu, kTanh, kQuickGelu, kGeluFast };
Activation activation_from_name(const std::string& name);  // throws ConfigError naming the value

// Caps from_json applies to a config (orders of magnitude above any released BERT).
inline constexpr int64_t kMaxVocabSize = int64_t{1} << 24;
inline constexpr int64_t kMaxHiddenSize = int64_t{1} << 16;
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxPositions = int64_t{1} << 20;
inline constexpr int64_t kMaxLabels = int64_t{1} << 16;

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  double classifier_dropout = -1.0;  // < 0: use hidden_dropout_prob (HF's null)
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  HeadKind head = HeadKind::kNone;
  std::vector<std::string> id2label;  // size = num_labels for classification heads
  std::string problem_type;           // "", "regression", "single_label_classification"
  nlohmann::json raw = nlohmann::json::object();  // the original JSON, kept for round trips

  int64_t num_labels() const { return static_cast<int64_t>(id2label.size()); }
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  double effective_classifier_dropout() const { return classifier_dropout >= 0 ? classifier_dropout : hidden_dropout_prob; }

  // Parses config.json content; `source` names the file in errors.
  static BertConfig from_json(const nlohmann::json& j, const std::string& source);
  static BertConfig from_file(const std::string& path);
  // The JSON transformers expects, starting from `raw` and overwriting what lth knows.
  nlohmann::json to_json() const;
  // Sets the head and its labels (names "LABEL_i" when `labels` is empty and n > 0).
  void set_head(HeadKind kind, int64_t num_labels, std::vector<std::string> labels = {});
};

}  // namespace lth::model
