// MuxBert: any BERT (dense or with a lottery-ticket mask applied) wrapped by a multiplexer, a
// demultiplexer and a retrieval head. Rows b = g·N + i of a batch are instance i of group g: the N
// consecutive rows of a group share one encoder pass.
//
//   ids [G·N, L] --(index demux: prepend N prefix positions)--> embed() [G·N, P+L, H]
//   --mux--> [G, P+L, H] --encode()--> [G, P+L, H] --demux--> [G·N, L, H] --BERT's own head--> logits
//
// Attention mask after muxing: a position is masked only when it is padding in ALL N instances of
// the group (DataMUX passes no mask at all, so padding is attended). Positions where only some
// instances are padding stay visible: their mixed embedding still carries the other instances'
// tokens. Prefix positions are never masked.
//
// Saved beside a Hugging Face checkpoint directory: the BERT as usual (config.json,
// model.safetensors, tokenizer files), plus mux.safetensors (the mux/demux/retrieval tensors,
// including the fixed random mixing vectors) and mux_config.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "model/bert.h"
#include "model/load.h"
#include "mux/demultiplexer.h"
#include "mux/multiplexer.h"
#include "mux/retrieval.h"

namespace lth::tokenize {
class Tokenizer;
}

namespace lth::mux {

// How a sequence-level head reads instance i: kMean, its demultiplexed states averaged over its own
// non-padding positions (what the retrieval warm-up taught the demultiplexer to separate), or
// kFirst, its state at position 0 alone ([CLS], as DataMUX), which at N >= 5 the task phase could
// not learn (docs/BENCHMARKS.md).
enum class PoolingKind { kMean, kFirst };
// "mean" | "first"; throws ConfigError naming the value.
PoolingKind pooling_kind_from_name(const std::string& name);
const char* pooling_kind_name(PoolingKind kind);

struct MuxConfig {
  int64_t n = 2;
  MuxKind mux = MuxKind::kHadamard;
  DemuxKind demux = DemuxKind::kIndex;
  double hadamard_norm = 0.0;  // 0 = √hidden
  PoolingKind pooling = PoolingKind::kMean;  // mux_config.json files without the key: kFirst
  uint64_t seed = 57;          // draw of the mixing vectors/matrices (saved, never re-drawn on load)
  // Index demux: prefix tokens by name, fmt-formatted with 0..N: "{0}" -> filler, "{i}" -> index
  // token of instance i-1. Resolved against the tokenizer's vocabulary (ConfigError when absent).
  std::string index_token_format = "[unused{}]";
  std::string filler_token;                 // resolved
  std::vector<std::string> index_tokens;    // resolved, N entries
  int64_t filler_id = -1;                   // resolved
  std::vector<int64_t> index_ids;           // resolved, N entries

  nlohmann::json to_json() const;
  // Unknown keys are a ConfigError naming the key and `source`.
  static MuxConfig from_json(const nlohmann::json& j, const std::string& source);
};

// Looks up the filler and N index tokens of `config.index_token_format` in the tokenizer's table and
// stores their names and ids. A no-op for demultiplexers without a prefix. ConfigError naming the
// first token the vocabulary lacks.
void resolve_index_tokens(MuxConfig& config, const tokenize::Tokenizer& tokenizer);

struct MuxForwardOptions {
  // Compute every instance's state at every position (token classification). Otherwise only the
  // first position is demultiplexed when the head is sequence-level.
  bool all_positions = false;
  // Also run the retrieval task: random instance per position, logits and targets in the outputs.
  bool retrieval = false;
  // Rows whose retrieval targets count ([G·N] bool; undefined = all). Eval pads incomplete groups
  // with duplicates, which must not count.
  at::Tensor real_rows;
  // Generator for the retrieval instance draw (default: the global one).
  std::optional<at::Generator> generator;
  // Fraction of the valid positions (per group, drawn with `generator`) the retrieval head scores.
  // 1 = every position, as DataMUX; smaller values estimate the same loss for less compute (the
  // 30,522-way retrieval logits dominate a small encoder's step).
  double retrieval_fraction = 1.0;
};

struct MuxOutputs {
  model::BertOutputs task;          // logits [G·N, ...] as the plain model's head gives them
  at::Tensor demuxed;               // [G·N, L or 1, H]
  // Retrieval at the scored positions only: each group's randomly chosen instance at every valid
  // position (not padding, not a duplicate row), optionally subsampled by retrieval_fraction.
  at::Tensor retrieval_logits;      // [K, vocab]
  at::Tensor retrieval_targets;     // [K] token ids of the chosen instances
  at::Tensor retrieval_positions;   // [K] flat index g * L + l of each scored position
};

class MuxBertImpl : public torch::nn::Module {
 public:
  // `draw`: draw the mixing tensors from config.seed (a new model); false leaves them zero for
  // load_mux to fill from mux.safetensors.
  MuxBertImpl(model::Bert bert, MuxConfig config, bool draw = true);

  // input_ids, attention_mask, token_type_ids: [G·N, L] int64. Throws ShapeError when the rows are
  // not a multiple of N, shapes differ, or prefix + L exceeds the position table.
  MuxOutputs forward(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& token_type_ids,
                     const MuxForwardOptions& options = {});

  // The trainable and fixed tensors of the mux parts with their mux.safetensors names
  // ("mux.weights", "demux.key_proj.weight", "retrieval.bias", ...): parameters and buffers.
  std::vector<std::pair<std::string, at::Tensor>> mux_state();
  // Parameters of the mux parts only (what the optimizer adds to the BERT's).
  std::vector<std::pair<std::string, at::Tensor>> mux_parameters();

  const MuxConfig& config() const { return config_; }
  int64_t n() const { return config_.n; }

  model::Bert bert{nullptr};
  Multiplexer mux{nullptr};
  Demultiplexer demux{nullptr};
  RetrievalHead retrieval{nullptr};

 private:
  std::vector<std::pair<std::string, at::Tensor>> mux_tensors(bool with_buffers);
  MuxConfig config_;
};
TORCH_MODULE(MuxBert);

// Writes the BERT (save_pretrained, tokenizer files copied from `tokenizer_from`), mux.safetensors
// and mux_config.json into `dir`, atomically file by file.
void save_mux(MuxBert& model, const std::string& dir, const std::string& tokenizer_from = "");
// Loads what save_mux wrote. Every mux tensor must be in mux.safetensors with its shape and nothing
// else may be there; all missing/unexpected/mis-shaped names are reported in one IoError.
MuxBert load_mux(const std::string& dir, const model::LoadOptions& options = {});
// True when `dir` holds mux_config.json.
bool is_mux_dir(const std::string& dir);

}  // namespace lth::mux
