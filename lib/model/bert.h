// BERT in LibTorch, computing what Hugging Face transformers' modeling_bert.py computes. Modules
// are registered so that named_parameters() equals HF's state-dict keys (e.g.
// "bert.encoder.layer.0.attention.self.query.weight"). Models know nothing of pruning or
// multiplexing: the encoder exposes embed() and encode() separately so wrappers can act in between.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "model/config.h"

namespace lth::model {

at::Tensor activation(Activation act, const at::Tensor& x);

// Another implementation of the Linear maps a layer applies to one input (e.g. packed sparse weights
// for inference, or masked weights trained sparse: lib/model/sparse.h). A layer consults one that
// does not train only in eval mode with autograd off, one that trains always; it may decline by
// returning no tensors, and the layer then runs its torch::nn::Linear modules as usual.
class LinearReplacement {
 public:
  virtual ~LinearReplacement() = default;
  // x [..., in] -> x W_k^T + b_k [..., out_k] for each Linear it replaces, in the layer's order.
  virtual std::vector<at::Tensor> forward(const at::Tensor& x) const = 0;
  // Whether forward() is differentiable in the layers' live parameters (usable in training).
  virtual bool trains() const { return false; }
};

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config);
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& token_type_ids);

  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertEmbeddings);

class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& config);
  // hidden [B, L, H]; additive_mask [B, 1, 1, L] (0 or finfo.min). Returns context [B, L, H] and,
  // when `probs` is non-null, the attention probabilities [B, heads, L, L].
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& additive_mask, at::Tensor* probs = nullptr);

  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  torch::nn::Dropout dropout{nullptr};
  std::shared_ptr<const LinearReplacement> qkv_replacement;  // optional: (query, key, value) in one call
  int64_t heads_, head_dim_;
};
TORCH_MODULE(BertSelfAttention);

// Dense + dropout + residual + LayerNorm (HF's BertSelfOutput and BertOutput have this shape).
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(const BertConfig& config, int64_t in_features);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& residual);

  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::Dropout dropout{nullptr};
  std::shared_ptr<const LinearReplacement> dense_replacement;  // optional
};
TORCH_MODULE(BertResidualOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& config);
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& additive_mask, at::Tensor* probs = nullptr);

  BertSelfAttention self{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& config);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Linear dense{nullptr};
  std::shared_ptr<const LinearReplacement> dense_replacement;  // optional
  Activation act_;
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& config);
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& additive_mask, at::Tensor* probs = nullptr);

  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

struct EncoderOutputs {
  at::Tensor last_hidden_state;          // [B, L, H]
  std::vector<at::Tensor> hidden_states;  // embedding output + every layer (when asked for)
  std::vector<at::Tensor> attentions;     // per layer [B, heads, L, L] (when asked for)
};

// HF's BertModel: embeddings, encoder (as "encoder.layer.N") and an optional pooler.
class BertEncoderModelImpl : public torch::nn::Module {
 public:
  BertEncoderModelImpl(const BertConfig& config, bool with_pooler);

  at::Tensor embed(const at::Tensor& input_ids, const at::Tensor& token_type_ids);
  // attention_mask [B, L] of 0/1; hidden [B, L, H] from embed() (or a wrapper).
  EncoderOutputs encode(const at::Tensor& hidden, const at::Tensor& attention_mask, bool keep_hidden_states = false,
                        bool keep_attentions = false);
  at::Tensor pool(const at::Tensor& last_hidden_state);
  bool has_pooler() const { return !pooler_dense.is_empty(); }

  BertEmbeddings embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Linear pooler_dense{nullptr};
};
TORCH_MODULE(BertEncoderModel);

// Turns a [B, L] 0/1 mask into HF's additive [B, 1, 1, L] mask: 0 where 1, finfo(dtype).min where 0.
at::Tensor additive_attention_mask(const at::Tensor& attention_mask, c10::ScalarType dtype);

struct BertOutputs {
  at::Tensor last_hidden_state;
  at::Tensor pooler_output;               // undefined without a pooler
  std::vector<at::Tensor> hidden_states;  // when asked for
  std::vector<at::Tensor> attentions;     // when asked for
  at::Tensor logits;                      // sequence/token classification, masked LM
  at::Tensor start_logits, end_logits;    // question answering
};

struct ForwardOptions {
  bool hidden_states = false;
  bool attentions = false;
  // Masked LM only: a [B, L] bool tensor; logits are computed only where it is true ([N, vocab]),
  // which saves most of the decoder's work in training (only ~15% of positions are predicted).
  at::Tensor mlm_positions;
};

// BERT with one of HF's task heads. Parameter names equal the HF checkpoint keys of the matching
// `architectures` class: "bert.*" plus "classifier.*", "qa_outputs.*" or "cls.predictions.*".
// (A plain HF BertModel checkpoint has the encoder keys without "bert."; load/save map that.)
class BertImpl : public torch::nn::Module {
 public:
  // with_pooler unset: a pooler exists for the sequence-classification head and the plain encoder.
  explicit BertImpl(const BertConfig& config, std::optional<bool> with_pooler = std::nullopt);

  BertOutputs forward(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& token_type_ids,
                      const ForwardOptions& options = {});
  // Runs the task head on encoder outputs (used by wrappers that produce their own hidden states).
  void apply_head(BertOutputs& out, const at::Tensor& mlm_positions = {});

  const BertConfig& config() const { return config_; }
  BertEncoderModel encoder() { return bert; }

  // Re-draws the head parameters (and the pooler when `with_pooler`) as HF's _init_weights does.
  void init_head(bool with_pooler);
  // Re-draws every parameter as HF's _init_weights does (training from scratch).
  void init_all();

  BertEncoderModel bert{nullptr};
  torch::nn::Dropout head_dropout{nullptr};
  torch::nn::Linear classifier{nullptr};   // sequence / token classification
  torch::nn::Linear qa_outputs{nullptr};   // question answering
  torch::nn::Linear mlm_dense{nullptr};    // cls.predictions.transform.dense
  torch::nn::LayerNorm mlm_layer_norm{nullptr};
  at::Tensor mlm_bias;                     // cls.predictions.bias; decoder weight is tied to word embeddings

 private:
  BertConfig config_;
};
TORCH_MODULE(Bert);

// The loss transformers computes for the head, given labels:
//  sequence classification: cross entropy (or MSE when num_labels == 1 / problem_type regression);
//  token classification and masked LM: cross entropy ignoring -100;
//  question answering: (CE(start) + CE(end)) / 2 with positions clamped to [0, L] and L ignored.
at::Tensor head_loss(const BertConfig& config, const BertOutputs& out, const at::Tensor& labels,
                     const at::Tensor& end_labels = {});

}  // namespace lth::model
