#include "model/bert.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "core/error.h"
#include "core/torch_compat.h"
#include "ops/batched_matmul.h"
#include "ops/dropout.h"

namespace lth::model {
namespace F = torch::nn::functional;

at::Tensor activation(Activation act, const at::Tensor& x) {
  switch (act) {
    case Activation::kGelu:
      return at::gelu(x);
    case Activation::kGeluTanh:
      return at::gelu(x, "tanh");
    case Activation::kGeluFast:
      return 0.5 * x * (1.0 + at::tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)));
    case Activation::kQuickGelu:
      return x * at::sigmoid(1.702 * x);
    case Activation::kRelu:
      return at::relu(x);
    case Activation::kSilu:
      return at::silu(x);
    case Activation::kTanh:
      return at::tanh(x);
  }
  return x;
}

namespace {
torch::nn::LayerNorm make_layer_norm(const BertConfig& c) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps));
}

// The replacement's outputs when the layer may use it (one that trains: always; another: eval mode
// with autograd off) and it accepts x.
std::vector<at::Tensor> replaced(const torch::nn::Module& layer, const std::shared_ptr<const LinearReplacement>& r,
                                 const at::Tensor& x) {
  if (!r || (!r->trains() && (layer.is_training() || at::GradMode::is_enabled()))) return {};
  return r->forward(x);
}

// A parameterless container, so that nested names ("encoder.layer.0", "cls.predictions.transform")
// match HF's module tree.
struct Container : torch::nn::Module {};

// The modules keep torch::nn::Dropout for its probability and train/eval state; the mask comes from
// ops::dropout (a hashed random stream, much faster than LibTorch 1.13's bernoulli_ on CPU).
at::Tensor apply_dropout(const torch::nn::Dropout& d, const at::Tensor& x) {
  return ops::dropout(x, d->options.p(), d->is_training());
}

}  // namespace

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c) {
  word_embeddings = register_module(
      "word_embeddings", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size).padding_idx(c.pad_token_id)));
  position_embeddings =
      register_module("position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size));
  token_type_embeddings = register_module("token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.hidden_size));
  layer_norm = register_module("LayerNorm", make_layer_norm(c));
  dropout = register_module("dropout", torch::nn::Dropout(c.hidden_dropout_prob));
}

at::Tensor BertEmbeddingsImpl::forward(const at::Tensor& input_ids, const at::Tensor& token_type_ids) {
  const int64_t length = input_ids.size(1);
  auto positions = torch::arange(length, input_ids.options().dtype(torch::kLong)).unsqueeze(0);
  // Same order as HF: (word + token type) + position.
  auto x = word_embeddings(input_ids) + token_type_embeddings(token_type_ids);
  x = x + position_embeddings(positions);
  return apply_dropout(dropout, layer_norm(x));
}

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& c)
    : heads_(c.num_attention_heads), head_dim_(c.head_dim()) {
  query = register_module("query", torch::nn::Linear(c.hidden_size, c.hidden_size));
  key = register_module("key", torch::nn::Linear(c.hidden_size, c.hidden_size));
  value = register_module("value", torch::nn::Linear(c.hidden_size, c.hidden_size));
  dropout = register_module("dropout", torch::nn::Dropout(c.attention_probs_dropout_prob));
}

at::Tensor BertSelfAttentionImpl::forward(const at::Tensor& hidden, const at::Tensor& additive_mask, at::Tensor* probs) {
  const int64_t batch = hidden.size(0), length = hidden.size(1);
  auto split = [&](const at::Tensor& t) { return t.view({batch, length, heads_, head_dim_}).permute({0, 2, 1, 3}); };
  auto qkv = replaced(*this, qkv_replacement, hidden);
  if (qkv.size() != 3) qkv = {query(hidden), key(hidden), value(hidden)};
  auto q = split(qkv[0]);
  auto k = split(qkv[1]);
  auto v = split(qkv[2]);
  // Scaled by head_dim^-0.5 as today's transformers does (4.31 divided by sqrt(head_dim): one
  // rounding apart unless head_dim is a power of 4; docs/ARCHITECTURE.md has the measured effect).
  const double scale = std::pow(static_cast<double>(head_dim_), -0.5);
  if (compat::kHasFusedAttention && probs == nullptr) {
    // LibTorch 2.x: one fused kernel (within the parity tolerances of the eager path below).
    const double p_drop = is_training() ? dropout->options.p() : 0.0;
    auto context = compat::fused_attention(q, k, v, additive_mask.to(q.scalar_type()), p_drop, scale);
    return context.permute({0, 2, 1, 3}).contiguous().view({batch, length, heads_ * head_dim_});
  }
  // fp32 on the CPU: ops::batched_matmul (the scale folded into the product, the context written
  // straight into [batch, length, heads, head_dim]); elsewhere at::matmul.
  auto scores = ops::batched_matmul(q, k.transpose(-1, -2), scale) + additive_mask;
  auto p = torch::softmax(scores, -1);
  if (probs != nullptr) *probs = p;
  p = apply_dropout(dropout, p);
  auto context = ops::batched_matmul(p, v, 1.0, /*heads_last=*/true).permute({0, 2, 1, 3}).contiguous();
  return context.view({batch, length, heads_ * head_dim_});
}

BertResidualOutputImpl::BertResidualOutputImpl(const BertConfig& c, int64_t in_features) {
  dense = register_module("dense", torch::nn::Linear(in_features, c.hidden_size));
  layer_norm = register_module("LayerNorm", make_layer_norm(c));
  dropout = register_module("dropout", torch::nn::Dropout(c.hidden_dropout_prob));
}

at::Tensor BertResidualOutputImpl::forward(const at::Tensor& x, const at::Tensor& residual) {
  auto y = replaced(*this, dense_replacement, x);
  return layer_norm(apply_dropout(dropout, y.empty() ? dense(x) : y[0]) + residual);
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& c) {
  self = register_module("self", BertSelfAttention(c));
  output = register_module("output", BertResidualOutput(c, c.hidden_size));
}

at::Tensor BertAttentionImpl::forward(const at::Tensor& hidden, const at::Tensor& additive_mask, at::Tensor* probs) {
  return output(self->forward(hidden, additive_mask, probs), hidden);
}

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& c) : act_(activation_from_name(c.hidden_act)) {
  dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.intermediate_size));
}

at::Tensor BertIntermediateImpl::forward(const at::Tensor& x) {
  auto y = replaced(*this, dense_replacement, x);
  return activation(act_, y.empty() ? dense(x) : y[0]);
}

BertLayerImpl::BertLayerImpl(const BertConfig& c) {
  attention = register_module("attention", BertAttention(c));
  intermediate = register_module("intermediate", BertIntermediate(c));
  output = register_module("output", BertResidualOutput(c, c.intermediate_size));
}

at::Tensor BertLayerImpl::forward(const at::Tensor& hidden, const at::Tensor& additive_mask, at::Tensor* probs) {
  auto a = attention(hidden, additive_mask, probs);
  return output(intermediate(a), a);
}

at::Tensor additive_attention_mask(const at::Tensor& attention_mask, c10::ScalarType dtype) {
  auto m = attention_mask.to(dtype).unsqueeze(1).unsqueeze(2);
  const double lowest = dtype == torch::kFloat64 ? std::numeric_limits<double>::lowest()
                        : dtype == torch::kBFloat16 ? -3.3895313892515355e38
                                                    : static_cast<double>(std::numeric_limits<float>::lowest());
  return (1.0 - m) * lowest;
}

BertEncoderModelImpl::BertEncoderModelImpl(const BertConfig& c, bool with_pooler) {
  embeddings = register_module("embeddings", BertEmbeddings(c));
  auto encoder = std::make_shared<Container>();
  layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(BertLayer(c));
  encoder->register_module("layer", layers);
  register_module("encoder", encoder);
  if (with_pooler) {
    auto pooler = std::make_shared<Container>();
    pooler_dense = pooler->register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
    register_module("pooler", pooler);
  }
}

at::Tensor BertEncoderModelImpl::embed(const at::Tensor& input_ids, const at::Tensor& token_type_ids) {
  return embeddings(input_ids, token_type_ids);
}

EncoderOutputs BertEncoderModelImpl::encode(const at::Tensor& hidden, const at::Tensor& attention_mask,
                                            bool keep_hidden_states, bool keep_attentions) {
  EncoderOutputs out;
  const auto mask = additive_attention_mask(attention_mask, hidden.scalar_type());
  auto h = hidden;
  if (keep_hidden_states) out.hidden_states.push_back(h);
  for (const auto& module : *layers) {
    at::Tensor probs;
    h = module->as<BertLayer>()->forward(h, mask, keep_attentions ? &probs : nullptr);
    if (keep_hidden_states) out.hidden_states.push_back(h);
    if (keep_attentions) out.attentions.push_back(probs);
  }
  out.last_hidden_state = h;
  return out;
}

at::Tensor BertEncoderModelImpl::pool(const at::Tensor& last_hidden_state) {
  using torch::indexing::Slice;
  return torch::tanh(pooler_dense(last_hidden_state.index({Slice(), 0})));
}

BertImpl::BertImpl(const BertConfig& c, std::optional<bool> with_pooler) : config_(c) {
  const bool pooler = with_pooler.value_or(c.head == HeadKind::kSequenceClassification || c.head == HeadKind::kNone);
  LTH_CHECK(pooler || c.head != HeadKind::kSequenceClassification, ConfigError,
            "sequence classification needs the pooler");
  bert = register_module("bert", BertEncoderModel(c, pooler));
  head_dropout = register_module("dropout", torch::nn::Dropout(c.effective_classifier_dropout()));
  switch (c.head) {
    case HeadKind::kSequenceClassification:
    case HeadKind::kTokenClassification:
      LTH_CHECK(c.num_labels() > 0, ConfigError, "a classification head needs num_labels > 0");
      classifier = register_module("classifier", torch::nn::Linear(c.hidden_size, c.num_labels()));
      break;
    case HeadKind::kQuestionAnswering:
      qa_outputs = register_module("qa_outputs", torch::nn::Linear(c.hidden_size, 2));
      break;
    case HeadKind::kMaskedLM: {
      auto cls = std::make_shared<Container>();
      auto predictions = std::make_shared<Container>();
      auto transform = std::make_shared<Container>();
      mlm_dense = transform->register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
      mlm_layer_norm = transform->register_module("LayerNorm", make_layer_norm(c));
      predictions->register_module("transform", transform);
      mlm_bias = predictions->register_parameter("bias", torch::zeros({c.vocab_size}));
      cls->register_module("predictions", predictions);
      register_module("cls", cls);
      break;
    }
    case HeadKind::kNone:
      break;
  }
  init_all();
}

void BertImpl::init_head(bool with_pooler) {
  torch::NoGradGuard no_grad;
  const double std = config_.initializer_range;
  auto init_linear = [&](torch::nn::Linear& l) {
    if (l.is_empty()) return;
    l->weight.normal_(0.0, std);
    l->bias.zero_();
  };
  init_linear(classifier);
  init_linear(qa_outputs);
  init_linear(mlm_dense);
  if (!mlm_layer_norm.is_empty()) {
    mlm_layer_norm->weight.fill_(1.0);
    mlm_layer_norm->bias.zero_();
  }
  if (mlm_bias.defined()) mlm_bias.zero_();
  if (with_pooler && bert->has_pooler()) init_linear(bert->pooler_dense);
}

void BertImpl::init_all() {
  torch::NoGradGuard no_grad;
  const double std = config_.initializer_range;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::LinearImpl>()) {
      linear->weight.normal_(0.0, std);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = module->as<torch::nn::EmbeddingImpl>()) {
      embedding->weight.normal_(0.0, std);
      if (embedding->options.padding_idx()) embedding->weight[*embedding->options.padding_idx()].zero_();
    } else if (auto* norm = module->as<torch::nn::LayerNormImpl>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  }
  if (mlm_bias.defined()) mlm_bias.zero_();
}

void BertImpl::apply_head(BertOutputs& out, const at::Tensor& mlm_positions) {
  switch (config_.head) {
    case HeadKind::kSequenceClassification:
      out.logits = classifier(apply_dropout(head_dropout, out.pooler_output));
      break;
    case HeadKind::kTokenClassification:
      out.logits = classifier(apply_dropout(head_dropout, out.last_hidden_state));
      break;
    case HeadKind::kQuestionAnswering: {
      auto logits = qa_outputs(out.last_hidden_state);
      auto parts = logits.split(1, -1);
      out.start_logits = parts[0].squeeze(-1).contiguous();
      out.end_logits = parts[1].squeeze(-1).contiguous();
      break;
    }
    case HeadKind::kMaskedLM: {
      auto hidden = out.last_hidden_state;
      if (mlm_positions.defined()) hidden = hidden.index({mlm_positions});
      // LayerNorm in fp32: under bf16 autocast the dense output is bf16, and LibTorch 1.13's CPU
      // layer_norm does not take mixed dtypes.
      auto h = mlm_layer_norm(activation(activation_from_name(config_.hidden_act), mlm_dense(hidden)).to(torch::kFloat32));
      out.logits = F::linear(h, bert->embeddings->word_embeddings->weight, mlm_bias);
      break;
    }
    case HeadKind::kNone:
      break;
  }
}

BertOutputs BertImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                              const at::Tensor& token_type_ids, const ForwardOptions& options) {
  auto enc = bert->encode(bert->embed(input_ids, token_type_ids), attention_mask, options.hidden_states,
                          options.attentions);
  BertOutputs out;
  out.last_hidden_state = enc.last_hidden_state;
  out.hidden_states = std::move(enc.hidden_states);
  out.attentions = std::move(enc.attentions);
  if (bert->has_pooler()) out.pooler_output = bert->pool(out.last_hidden_state);
  apply_head(out, options.mlm_positions);
  return out;
}

at::Tensor head_loss(const BertConfig& config, const BertOutputs& out, const at::Tensor& labels,
                     const at::Tensor& end_labels) {
  switch (config.head) {
    case HeadKind::kSequenceClassification:
      if (config.num_labels() == 1 || config.problem_type == "regression") {
        return F::mse_loss(out.logits.squeeze(-1), labels.to(out.logits.scalar_type()));
      }
      return F::cross_entropy(out.logits.view({-1, config.num_labels()}), labels.view({-1}));
    case HeadKind::kTokenClassification:
      return F::cross_entropy(out.logits.view({-1, config.num_labels()}), labels.view({-1}),
                              F::CrossEntropyFuncOptions().ignore_index(-100));
    case HeadKind::kMaskedLM:
      return F::cross_entropy(out.logits.view({-1, config.vocab_size}), labels.view({-1}),
                              F::CrossEntropyFuncOptions().ignore_index(-100));
    case HeadKind::kQuestionAnswering: {
      const int64_t ignored = out.start_logits.size(1);
      auto start = labels.clamp(0, ignored), end = end_labels.clamp(0, ignored);
      auto opts = F::CrossEntropyFuncOptions().ignore_index(ignored);
      return (F::cross_entropy(out.start_logits, start, opts) + F::cross_entropy(out.end_logits, end, opts)) / 2;
    }
    case HeadKind::kNone:
      break;
  }
  LTH_FAIL(ConfigError, "the encoder-only model has no task head, so no loss");
}

}  // namespace lth::model
