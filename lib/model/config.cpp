#include "model/config.h"

#include <cmath>

#include "core/error.h"
#include "core/file.h"
#include "core/json_fields.h"

namespace lth::model {
namespace {

struct ArchName {
  HeadKind head;
  const char* architecture;
  const char* name;
};
constexpr ArchName kArchitectures[] = {
    {HeadKind::kNone, "BertModel", "encoder"},
    {HeadKind::kSequenceClassification, "BertForSequenceClassification", "sequence-classification"},
    {HeadKind::kTokenClassification, "BertForTokenClassification", "token-classification"},
    {HeadKind::kQuestionAnswering, "BertForQuestionAnswering", "question-answering"},
    {HeadKind::kMaskedLM, "BertForMaskedLM", "masked-lm"},
};

}  // namespace

HeadKind head_from_architecture(const std::string& architecture) {
  for (const auto& a : kArchitectures)
    if (architecture == a.architecture) return a.head;
  // BertForPreTraining / BertLMHeadModel checkpoints hold an encoder plus an MLM head.
  if (architecture == "BertForPreTraining" || architecture == "BertLMHeadModel") return HeadKind::kMaskedLM;
  LTH_FAIL(ConfigError, "unsupported architecture '{}' (supported: BertModel, BertForSequenceClassification, "
           "BertForTokenClassification, BertForQuestionAnswering, BertForMaskedLM, BertForPreTraining)", clip(architecture));
}

std::string architecture_name(HeadKind head) {
  for (const auto& a : kArchitectures)
    if (a.head == head) return a.architecture;
  return "BertModel";
}

const char* head_name(HeadKind head) {
  for (const auto& a : kArchitectures)
    if (a.head == head) return a.name;
  return "encoder";
}

Activation activation_from_name(const std::string& name) {
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  if (name == "gelu_fast") return Activation::kGeluFast;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  if (name == "relu") return Activation::kRelu;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "tanh") return Activation::kTanh;
  LTH_FAIL(ConfigError, "hidden_act '{}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, "
           "quick_gelu, relu, silu, swish, tanh)", clip(name));
}

namespace {

// The fields lth reads from config.json, after checking model_type.
void take_fields(JsonFields& fields, BertConfig& c, const std::string& source) {
  std::string model_type = "bert";
  fields.take("model_type", model_type);
  LTH_CHECK(model_type == "bert", ConfigError, "{}: model_type '{}' is not supported (only 'bert')", source,
            clip(model_type));
  fields.take("vocab_size", c.vocab_size);
  fields.take("hidden_size", c.hidden_size);
  fields.take("num_hidden_layers", c.num_hidden_layers);
  fields.take("num_attention_heads", c.num_attention_heads);
  fields.take("intermediate_size", c.intermediate_size);
  fields.take("hidden_act", c.hidden_act);
  fields.take("hidden_dropout_prob", c.hidden_dropout_prob);
  fields.take("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  fields.take("classifier_dropout", c.classifier_dropout);
  fields.take("max_position_embeddings", c.max_position_embeddings);
  fields.take("type_vocab_size", c.type_vocab_size);
  fields.take("initializer_range", c.initializer_range);
  fields.take("layer_norm_eps", c.layer_norm_eps);
  fields.take("pad_token_id", c.pad_token_id);
  fields.take("problem_type", c.problem_type);
}

// Settings that change the computation and are not implemented.
void reject_unsupported(JsonFields& fields, const std::string& source) {
  std::string position_type = "absolute";
  fields.take("position_embedding_type", position_type);
  LTH_CHECK(position_type == "absolute", ConfigError,
            "{}: position_embedding_type '{}' is not supported (only 'absolute')", source, clip(position_type));
  bool flag = false;
  fields.take("is_decoder", flag);
  LTH_CHECK(!flag, ConfigError, "{}: is_decoder=true is not supported (lth runs BERT encoders)", source);
  fields.take("add_cross_attention", flag);
  LTH_CHECK(!flag, ConfigError, "{}: add_cross_attention=true is not supported", source);
}

// Sizes: positive and below generous caps (far above any released BERT), so a typo cannot ask for
// terabytes; the checkpoint's tensor shapes are checked against them before anything is built.
void check_sizes(const BertConfig& c, const std::string& source) {
  auto size_in = [&](int64_t v, const char* key, int64_t cap) {
    LTH_CHECK(v > 0, ConfigError, "{}: {} must be positive, got {}", source, key, v);
    LTH_CHECK(v <= cap, ConfigError, "{}: {} {} is above lth's limit of {}", source, key, v, cap);
  };
  size_in(c.vocab_size, "vocab_size", kMaxVocabSize);
  size_in(c.hidden_size, "hidden_size", kMaxHiddenSize);
  size_in(c.num_hidden_layers, "num_hidden_layers", kMaxLayers);
  size_in(c.num_attention_heads, "num_attention_heads", kMaxHiddenSize);
  size_in(c.intermediate_size, "intermediate_size", 16 * kMaxHiddenSize);
  size_in(c.max_position_embeddings, "max_position_embeddings", kMaxPositions);
  size_in(c.type_vocab_size, "type_vocab_size", kMaxVocabSize);
  LTH_CHECK(c.hidden_size % c.num_attention_heads == 0, ConfigError,
            "{}: hidden_size {} is not a multiple of num_attention_heads {}", source, c.hidden_size,
            c.num_attention_heads);
  LTH_CHECK(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size, ConfigError,
            "{}: pad_token_id {} outside the vocabulary (size {})", source, c.pad_token_id, c.vocab_size);
}

// Probabilities, epsilons, problem_type and hidden_act hold values lth can run.
void check_values(const BertConfig& c, const nlohmann::json& j, const std::string& source) {
  auto probability = [&](double v, const char* key) {
    LTH_CHECK(std::isfinite(v) && v >= 0 && v < 1, ConfigError, "{}: {} must be in [0, 1), got {}", source, key, v);
  };
  probability(c.hidden_dropout_prob, "hidden_dropout_prob");
  probability(c.attention_probs_dropout_prob, "attention_probs_dropout_prob");
  if (auto it = j.find("classifier_dropout"); it != j.end() && !it->is_null())
    probability(c.classifier_dropout, "classifier_dropout");
  LTH_CHECK(std::isfinite(c.layer_norm_eps) && c.layer_norm_eps > 0 && c.layer_norm_eps < 1, ConfigError,
            "{}: layer_norm_eps must be in (0, 1), got {}", source, c.layer_norm_eps);
  LTH_CHECK(std::isfinite(c.initializer_range) && c.initializer_range >= 0, ConfigError,
            "{}: initializer_range must be a finite number >= 0, got {}", source, c.initializer_range);
  LTH_CHECK(c.problem_type.empty() || c.problem_type == "regression" ||
                c.problem_type == "single_label_classification" || c.problem_type == "multi_label_classification",
            ConfigError, "{}: problem_type '{}' is not one of regression, single_label_classification, "
            "multi_label_classification", source, clip(c.problem_type));
  try {
    activation_from_name(c.hidden_act);
  } catch (const ConfigError& e) {
    LTH_FAIL(ConfigError, "{}: {}", source, e.what());
  }
}

// The head `architectures` names (kept as it is when the key is absent or not a list of names).
void read_architecture(const nlohmann::json& j, BertConfig& c, const std::string& source) {
  auto arch = j.find("architectures");
  if (arch == j.end() || !arch->is_array() || arch->empty() || !(*arch)[0].is_string()) return;
  try {
    c.head = head_from_architecture((*arch)[0].get<std::string>());
  } catch (const ConfigError& e) {
    LTH_FAIL(ConfigError, "{}: {}", source, e.what());
  }
}

// id2label into c.id2label; returns how many labels it names (0 without an id2label object).
int64_t read_id2label(const nlohmann::json& j, BertConfig& c, const std::string& source) {
  auto id2label = j.find("id2label");
  if (id2label == j.end() || !id2label->is_object()) return 0;
  const auto num_labels = static_cast<int64_t>(id2label->size());
  LTH_CHECK(num_labels <= kMaxLabels, ConfigError, "{}: id2label has {} entries, above lth's limit of {}", source,
            num_labels, kMaxLabels);
  c.id2label.assign(static_cast<size_t>(num_labels), "");
  for (auto it = id2label->begin(); it != id2label->end(); ++it) {
    int64_t index = -1;
    try {
      index = std::stoll(it.key());
    } catch (const std::exception&) {
    }
    LTH_CHECK(index >= 0 && index < num_labels && it.value().is_string(), ConfigError,
              "{}: id2label has a bad entry '{}'", source, clip(it.key()));
    c.id2label[static_cast<size_t>(index)] = it.value().get<std::string>();
  }
  return num_labels;
}

// num_labels, when given, overrides the count id2label implies (labels then named LABEL_i).
void read_num_labels(const nlohmann::json& j, BertConfig& c, int64_t num_labels, const std::string& source) {
  auto nl = j.find("num_labels");
  if (nl == j.end() || nl->is_null()) return;
  LTH_CHECK(nl->is_number_integer(), ConfigError, "{}: field 'num_labels' must be an integer, got {}", source,
            clip(nl->dump()));
  const bool in_range = nl->is_number_unsigned() && nl->get<uint64_t>() <= static_cast<uint64_t>(kMaxLabels);
  LTH_CHECK(in_range, ConfigError, "{}: num_labels {} must be in [0, {}]", source, clip(nl->dump()), kMaxLabels);
  if (nl->get<int64_t>() != num_labels) c.set_head(c.head, nl->get<int64_t>());
}

}  // namespace

BertConfig BertConfig::from_json(const nlohmann::json& j, const std::string& source) {
  JsonFields fields(j, source);  // HF configs hold many keys lth does not use: no reject_unknown()
  BertConfig c;
  c.raw = j;
  take_fields(fields, c, source);
  reject_unsupported(fields, source);
  check_sizes(c, source);
  check_values(c, j, source);
  read_architecture(j, c, source);
  const int64_t num_labels = read_id2label(j, c, source);
  read_num_labels(j, c, num_labels, source);
  if (c.id2label.empty()) c.set_head(c.head, 2);  // transformers' default
  return c;
}

BertConfig BertConfig::from_file(const std::string& path) { return from_json(read_json_file(path), path); }

void BertConfig::set_head(HeadKind kind, int64_t n, std::vector<std::string> labels) {
  head = kind;
  if (labels.empty()) {
    for (int64_t i = 0; i < n; ++i) labels.push_back("LABEL_" + std::to_string(i));
  }
  LTH_CHECK(static_cast<int64_t>(labels.size()) == n, ConfigError, "{} labels given for num_labels {}", labels.size(), n);
  id2label = std::move(labels);
}

nlohmann::json BertConfig::to_json() const {
  nlohmann::json j = raw.is_object() ? raw : nlohmann::json::object();
  j["model_type"] = "bert";
  j["architectures"] = nlohmann::json::array({architecture_name(head)});
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["intermediate_size"] = intermediate_size;
  j["hidden_act"] = hidden_act;
  j["hidden_dropout_prob"] = hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  j["classifier_dropout"] = classifier_dropout >= 0 ? nlohmann::json(classifier_dropout) : nlohmann::json(nullptr);
  j["max_position_embeddings"] = max_position_embeddings;
  j["type_vocab_size"] = type_vocab_size;
  j["initializer_range"] = initializer_range;
  j["layer_norm_eps"] = layer_norm_eps;
  j["pad_token_id"] = pad_token_id;
  j["position_embedding_type"] = "absolute";
  j["torch_dtype"] = "float32";
  nlohmann::json i2l = nlohmann::json::object(), l2i = nlohmann::json::object();
  for (size_t i = 0; i < id2label.size(); ++i) {
    i2l[std::to_string(i)] = id2label[i];
    l2i[id2label[i]] = i;
  }
  j["id2label"] = i2l;
  j["label2id"] = l2i;
  j.erase("num_labels");
  if (!problem_type.empty()) j["problem_type"] = problem_type;
  return j;
}

}  // namespace lth::model
