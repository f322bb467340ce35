#include "model/names.h"

namespace lth::model::names {
namespace {

const std::string kLayerPrefix = "bert.encoder.layer.";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void replace_suffix(std::string& s, const std::string& from, const std::string& to) {
  if (ends_with(s, from)) s = s.substr(0, s.size() - from.size()) + to;
}

}  // namespace

std::string layer_prefix(int64_t layer) { return kLayerPrefix + std::to_string(layer) + "."; }

std::string matrix_weight(int64_t layer, Matrix m) { return layer_prefix(layer) + info(m).module + ".weight"; }

std::string canonical(std::string key) {
  if (key.find("LayerNorm.") != std::string::npos) {
    replace_suffix(key, "LayerNorm.gamma", "LayerNorm.weight");
    replace_suffix(key, "LayerNorm.beta", "LayerNorm.bias");
  }
  return with_root(key);
}

std::string with_root(const std::string& key) {
  for (const char* root : {"embeddings.", "encoder.", "pooler."}) {
    if (starts_with(key, root)) return kRoot + key;
  }
  return key;
}

std::string without_root(const std::string& name) {
  return starts_with(name, kRoot) ? name.substr(std::string(kRoot).size()) : name;
}

bool is_embeddings(const std::string& name) { return starts_with(name, "bert.embeddings."); }
bool is_pooler(const std::string& name) { return starts_with(name, "bert.pooler."); }
bool is_head(const std::string& name) { return !starts_with(name, kRoot) || is_pooler(name); }

bool is_other_head_tensor(const std::string& name) {
  return starts_with(name, "cls.") || starts_with(name, "classifier.") || starts_with(name, "qa_outputs.") ||
         name == "bert.embeddings.position_ids" || is_pooler(name);
}

bool is_tied_decoder(const std::string& name) { return name == kTiedDecoder[0] || name == kTiedDecoder[1]; }

int64_t layer_index(const std::string& name) {
  if (!starts_with(name, kLayerPrefix)) return -1;
  int64_t n = 0;
  std::size_t i = kLayerPrefix.size();
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
    n = n * 10 + (name[i] - '0');
    if (n > (int64_t{1} << 40)) return -1;
  }
  return i < name.size() && name[i] == '.' ? n : -1;
}

std::string group(const std::string& name) {
  if (starts_with(name, kLayerPrefix))
    return "encoder.layer." + name.substr(kLayerPrefix.size(), name.find('.', kLayerPrefix.size()) - kLayerPrefix.size());
  if (is_embeddings(name)) return "embeddings";
  if (is_pooler(name)) return "pooler";
  return "head";
}

std::optional<MatrixRef> matrix_of(const std::string& name) {
  const int64_t layer = layer_index(name);
  if (layer < 0) return std::nullopt;
  const std::string rest = name.substr(name.find('.', kLayerPrefix.size()) + 1);
  for (const MatrixInfo& m : kMatrices) {
    if (rest == std::string(m.module) + ".weight") return MatrixRef{layer, m.kind};
  }
  return std::nullopt;
}

bool is_default_prunable(const std::string& name) { return name == kPoolerWeight || matrix_of(name).has_value(); }

bool decays_by_default(const std::string& name) {
  return !(ends_with(name, ".bias") || ends_with(name, "LayerNorm.weight") || name.find("LayerNorm.") != std::string::npos ||
           name == "cls.predictions.bias");
}

}  // namespace lth::model::names
