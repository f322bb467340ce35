// Demultiplexers: recover N per-instance states from the one encoder output of a multiplexed group.
// Every kind computes MLP([k_i ; h_t]) or MLP_i(h_t) with a one-hidden-layer MLP (Linear, GELU,
// LayerNorm). The concatenation is computed as W_k k_i + W_h h_t, so the h_t part is shared by the N
// instances and demultiplexing costs one d×d product per position plus one per instance — cheap next
// to the encoder (keep it that way: throughput at large N depends on it).
#pragma once

#include <cstdint>
#include <string>

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

namespace lth::mux {

enum class DemuxKind {
  kIndex,  // DataMUX: N prefix positions hold index/filler tokens; k_i = encoder output at prefix position i
  kKeys,   // MUX-PLMs: k_i are N learned key vectors; no prefix
  kMlp,    // one MLP per instance on h_t; no prefix
};
// "index" | "keys" | "mlp"; throws ConfigError naming the value.
DemuxKind demux_kind_from_name(const std::string& name);
const char* demux_kind_name(DemuxKind kind);

struct DemultiplexerOptions {
  DemultiplexerOptions(int64_t n, int64_t hidden) : n_(n), hidden_(hidden) {}
  TORCH_ARG(int64_t, n);
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(DemuxKind, kind) = DemuxKind::kIndex;
  TORCH_ARG(double, layer_norm_eps) = 1e-12;
  TORCH_ARG(double, initializer_range) = 0.02;
};

class DemultiplexerImpl : public torch::nn::Module {
 public:
  explicit DemultiplexerImpl(DemultiplexerOptions options);

  // Encoder positions before the instances' own tokens: N for the index demux (the prefix), else 0.
  int64_t prefix_length() const;

  // hidden [G, prefix + L, H] -> [G, N, L, H]: every instance at every position.
  at::Tensor forward(const at::Tensor& hidden);
  // Only the instances' first position (their [CLS]): [G, prefix + L, H] -> [G, N, H]. All a
  // sequence-level head needs.
  at::Tensor first(const at::Tensor& hidden);
  // One instance per position: which [G, L] int64 in [0, N) -> [G, L, H], the state of instance
  // which[g, t] at position t (the retrieval task's query).
  at::Tensor select(const at::Tensor& hidden, const at::Tensor& which);

  const DemultiplexerOptions& options() const { return options_; }

  torch::nn::Linear key_proj{nullptr}, token_proj{nullptr};  // index, keys
  at::Tensor keys;                                           // keys: [N, H]
  at::Tensor mlp_weight, mlp_bias;                           // mlp: [N, H, H], [N, H]
  torch::nn::LayerNorm layer_norm{nullptr};

 private:
  void check(const at::Tensor& hidden, const char* what) const;
  // Projected keys W_k k_i + b: [G, N, H].
  at::Tensor projected_keys(const at::Tensor& hidden);

  DemultiplexerOptions options_;
};
TORCH_MODULE(Demultiplexer);

}  // namespace lth::mux
