#include "mux/retrieval.h"

#include <torch/torch.h>

#include "core/error.h"
#include "mux/shape.h"

namespace lth::mux {

RetrievalHeadImpl::RetrievalHeadImpl(RetrievalHeadOptions options) : options_(options) {
  const int64_t h = options_.hidden();
  dense = register_module("dense", torch::nn::Linear(h, h));
  layer_norm = register_module(
      "layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(options_.layer_norm_eps())));
  bias = register_parameter("bias", torch::zeros({options_.vocab()}));
  torch::NoGradGuard no_grad;
  dense->weight.normal_(0.0, options_.initializer_range());
  dense->bias.zero_();
}

at::Tensor RetrievalHeadImpl::forward(const at::Tensor& states, const at::Tensor& decoder) {
  const int64_t h = options_.hidden(), v = options_.vocab();
  LTH_CHECK(states.dim() >= 1 && states.size(-1) == h, ShapeError,
            "retrieval head: expected states [..., hidden={}], got {}", h, shape_str(states));
  LTH_CHECK(decoder.dim() == 2 && decoder.size(0) == v && decoder.size(1) == h, ShapeError,
            "retrieval head: expected a decoder [vocab={}, hidden={}], got {}", v, h, shape_str(decoder));
  auto x = layer_norm(torch::gelu(dense(states)).to(torch::kFloat32));
  return torch::nn::functional::linear(x, decoder.to(x.scalar_type()), bias.to(x.scalar_type()));
}

at::Tensor retrieval_loss(const at::Tensor& logits, const at::Tensor& targets) {
  LTH_CHECK(logits.dim() == targets.dim() + 1 && logits.sizes().slice(0, targets.dim()) == targets.sizes(), ShapeError,
            "retrieval loss: logits {} do not fit targets {}", shape_str(logits), shape_str(targets));
  if (targets.numel() == 0) return logits.sum() * 0.0;  // keeps the graph connected
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32),
                                              targets.reshape({-1}));
}

std::pair<int64_t, int64_t> retrieval_hits(const at::Tensor& logits, const at::Tensor& targets) {
  return {logits.argmax(-1).eq(targets).sum().item<int64_t>(), targets.numel()};
}

int64_t retrieval_any_instance_hits(const at::Tensor& predicted, const at::Tensor& positions, const at::Tensor& input_ids,
                                    int64_t n) {
  LTH_CHECK(input_ids.dim() == 2 && n >= 1 && input_ids.size(0) % n == 0, ShapeError,
            "retrieval: input ids {} are not groups of N={}", shape_str(input_ids), n);
  if (positions.numel() == 0) return 0;
  const int64_t groups = input_ids.size(0) / n, len = input_ids.size(1);
  // [G, N, L] -> [G·L, N]: the N instances' tokens at every flat position g * L + l.
  const auto tokens = input_ids.to(positions.device(), torch::kLong).view({groups, n, len}).permute({0, 2, 1}).reshape({groups * len, n});
  return tokens.index_select(0, positions).eq(predicted.unsqueeze(1)).any(1).sum().item<int64_t>();
}

}  // namespace lth::mux
