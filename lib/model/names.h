// The one table of Hugging Face BERT parameter names (torch-free, target lth_names): how checkpoint
// keys map onto lth's names, which names belong to the embeddings, the encoder layers, the pooler or a
// task head, the six prunable matrices of a layer, and the no-weight-decay rule. Every other module
// asks here instead of testing name strings itself.
//
// lth's names are HF's head-model state-dict keys: the encoder under "bert." ("bert.embeddings.",
// "bert.encoder.layer.N.", "bert.pooler."), heads beside it ("classifier.", "qa_outputs.", "cls.").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace lth::model::names {

// The encoder's root in a head model; a plain encoder's checkpoint spells its keys without it.
inline constexpr const char* kRoot = "bert.";
inline constexpr const char* kPoolerWeight = "bert.pooler.dense.weight";
// transformers stores these tied aliases of the word embeddings; they are not parameters.
inline constexpr std::array<const char*, 2> kTiedDecoder = {"cls.predictions.decoder.weight",
                                                            "cls.predictions.decoder.bias"};

// The prunable matrices of an encoder layer (Chen et al.), in display order.
enum class Matrix { kQ = 0, kK, kV, kAO, kI, kO };
inline constexpr int kMatrixCount = 6;

struct MatrixInfo {
  Matrix kind;
  const char* label;   // as tables and heatmaps show it: "Q"
  const char* module;  // the Linear under the layer's prefix: "attention.self.query"
};
inline constexpr std::array<MatrixInfo, kMatrixCount> kMatrices = {{
    {Matrix::kQ, "Q", "attention.self.query"},
    {Matrix::kK, "K", "attention.self.key"},
    {Matrix::kV, "V", "attention.self.value"},
    {Matrix::kAO, "AO", "attention.output.dense"},
    {Matrix::kI, "I", "intermediate.dense"},
    {Matrix::kO, "O", "output.dense"},
}};
inline constexpr const MatrixInfo& info(Matrix m) { return kMatrices[static_cast<std::size_t>(m)]; }

// "bert.encoder.layer.N."
std::string layer_prefix(int64_t layer);
// "bert.encoder.layer.N.attention.self.query.weight"
std::string matrix_weight(int64_t layer, Matrix m);

// A checkpoint key as lth names it: the old LayerNorm names gamma/beta become weight/bias, then
// with_root.
std::string canonical(std::string key);
// "bert." in front of a plain encoder's keys ("embeddings.", "encoder.", "pooler."); others unchanged.
std::string with_root(const std::string& key);
// The name a plain encoder's checkpoint uses: without the leading "bert.".
std::string without_root(const std::string& name);

bool is_embeddings(const std::string& name);  // "bert.embeddings."
bool is_pooler(const std::string& name);      // "bert.pooler."
// Parameters a new task head brings: everything outside "bert.", and the pooler.
bool is_head(const std::string& name);
// Tensors transformers stores that a model with another head does not use: heads, the pooler,
// embeddings.position_ids (a buffer).
bool is_other_head_tensor(const std::string& name);
bool is_tied_decoder(const std::string& name);

// The N of "bert.encoder.layer.N.<rest>" (digits only, below 2^40), or -1.
int64_t layer_index(const std::string& name);

// The module a parameter belongs to, for per-module tables: "encoder.layer.N", "embeddings",
// "pooler" or "head".
std::string group(const std::string& name);

// Which prunable matrix a (canonical) name is: layer and kind; nullopt for anything else (the pooler too).
struct MatrixRef {
  int64_t layer = 0;
  Matrix kind = Matrix::kQ;
};
std::optional<MatrixRef> matrix_of(const std::string& name);

// Chen et al.'s default prunable set: the six matrices of every layer plus the pooler weight.
bool is_default_prunable(const std::string& name);

// AdamW's default groups (as HF's Trainer): no weight decay on biases, LayerNorm and the MLM
// output bias; decay on everything else.
bool decays_by_default(const std::string& name);

}  // namespace lth::model::names
