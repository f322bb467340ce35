// The retrieval task (DataMUX's auxiliary loss): at every position t pick an instance r_t at random
// and predict the token instance r_t has at t from r_t's demultiplexed state; cross-entropy over the
// vocabulary. It teaches the demultiplexer to separate the instances (warm-up) and keeps it doing so
// during task fine-tuning.
#pragma once

#include <cstdint>

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

namespace lth::mux {

struct RetrievalHeadOptions {
  RetrievalHeadOptions(int64_t hidden, int64_t vocab) : hidden_(hidden), vocab_(vocab) {}
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(int64_t, vocab);
  TORCH_ARG(double, layer_norm_eps) = 1e-12;
  TORCH_ARG(double, initializer_range) = 0.02;
};

// Dense + GELU + LayerNorm, then the decoder tied to the word embeddings (passed in) plus a bias:
// BERT's MLM head shape, so a pretrained embedding table is reused as the output layer.
class RetrievalHeadImpl : public torch::nn::Module {
 public:
  explicit RetrievalHeadImpl(RetrievalHeadOptions options);
  // states [..., H], decoder [vocab, H] -> logits [..., vocab].
  at::Tensor forward(const at::Tensor& states, const at::Tensor& decoder);

  const RetrievalHeadOptions& options() const { return options_; }
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  at::Tensor bias;

 private:
  RetrievalHeadOptions options_;
};
TORCH_MODULE(RetrievalHead);

// Mean cross-entropy of logits [..., V] against targets [...] (int64 token ids: MuxOutputs holds
// only scored positions); 0 when there are none.
at::Tensor retrieval_loss(const at::Tensor& logits, const at::Tensor& targets);

// Correct and counted predictions.
std::pair<int64_t, int64_t> retrieval_hits(const at::Tensor& logits, const at::Tensor& targets);

// Predicted tokens (`predicted` [K], the retrieval logits' argmax) that are the token of ANY of the
// group's N instances at their position: with the correct ones, separates "demultiplexed the wrong
// instance" from "recovered no token at all". `positions` [K] are MuxOutputs::retrieval_positions
// (g * L + l), `input_ids` the batch's [G·N, L].
int64_t retrieval_any_instance_hits(const at::Tensor& predicted, const at::Tensor& positions, const at::Tensor& input_ids,
                                    int64_t n);

}  // namespace lth::mux
