#include "mux/demultiplexer.h"

#include <torch/torch.h>

#include "core/enum_names.h"
#include "core/error.h"
#include "mux/shape.h"

namespace lth::mux {

namespace {
constexpr EnumName<DemuxKind> kDemuxKinds[] = {{DemuxKind::kIndex, "index"}, {DemuxKind::kKeys, "keys"}, {DemuxKind::kMlp, "mlp"}};
}  // namespace

DemuxKind demux_kind_from_name(const std::string& name) {
  if (auto kind = enum_from_name(kDemuxKinds, name)) return *kind;
  LTH_FAIL(ConfigError, "unknown demultiplexer '{}' (expected {})", name, enum_choices(kDemuxKinds, " or "));
}

const char* demux_kind_name(DemuxKind kind) { return enum_name(kDemuxKinds, kind); }

DemultiplexerImpl::DemultiplexerImpl(DemultiplexerOptions options) : options_(options) {
  const int64_t n = options_.n(), h = options_.hidden();
  LTH_CHECK(n >= 1 && h >= 1, ConfigError, "the demultiplexer needs N >= 1 and hidden >= 1, got N={} hidden={}", n, h);
  const double std = options_.initializer_range();
  torch::NoGradGuard no_grad;
  if (options_.kind() == DemuxKind::kMlp) {
    mlp_weight = register_parameter("mlp_weight", torch::randn({n, h, h}) * std);
    mlp_bias = register_parameter("mlp_bias", torch::zeros({n, h}));
  } else {
    key_proj = register_module("key_proj", torch::nn::Linear(torch::nn::LinearOptions(h, h).bias(false)));
    token_proj = register_module("token_proj", torch::nn::Linear(h, h));
    key_proj->weight.normal_(0.0, std);
    token_proj->weight.normal_(0.0, std);
    token_proj->bias.zero_();
    if (options_.kind() == DemuxKind::kKeys) keys = register_parameter("keys", torch::randn({n, h}));
  }
  layer_norm = register_module(
      "layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(options_.layer_norm_eps())));
}

int64_t DemultiplexerImpl::prefix_length() const { return options_.kind() == DemuxKind::kIndex ? options_.n() : 0; }

void DemultiplexerImpl::check(const at::Tensor& hidden, const char* what) const {
  const int64_t h = options_.hidden(), p = prefix_length();
  LTH_CHECK(hidden.dim() == 3 && hidden.size(2) == h && hidden.size(1) > p, ShapeError,
            "demultiplexer {}: expected encoder output [groups, {} prefix + length >= 1, hidden={}], got {}", what, p,
            h, shape_str(hidden));
}

at::Tensor DemultiplexerImpl::projected_keys(const at::Tensor& hidden) {
  if (options_.kind() == DemuxKind::kIndex) {
    return key_proj(hidden.slice(1, 0, options_.n()));  // [G, N, H]
  }
  return key_proj(keys).unsqueeze(0).expand({hidden.size(0), options_.n(), options_.hidden()});
}

at::Tensor DemultiplexerImpl::forward(const at::Tensor& hidden) {
  check(hidden, "forward");
  // LayerNorms take fp32 (LibTorch 1.13 CPU rejects a bf16 input with fp32 weights under autocast).
  const auto tokens = hidden.slice(1, prefix_length());  // [G, L, H]
  if (options_.kind() == DemuxKind::kMlp) {
    // [G, 1, L, H] x [N, H, H] -> [G, N, L, H]
    auto z = torch::matmul(tokens.unsqueeze(1), mlp_weight.transpose(-1, -2)) + mlp_bias.unsqueeze(1);
    return layer_norm(torch::gelu(z).to(torch::kFloat32));
  }
  auto z = token_proj(tokens).unsqueeze(1) + projected_keys(hidden).unsqueeze(2);
  return layer_norm(torch::gelu(z).to(torch::kFloat32));
}

at::Tensor DemultiplexerImpl::first(const at::Tensor& hidden) {
  check(hidden, "first");
  const int64_t p = prefix_length();
  auto out = forward(torch::cat({hidden.slice(1, 0, p), hidden.slice(1, p, p + 1)}, 1));  // [G, N, 1, H]
  return out.squeeze(2);
}

at::Tensor DemultiplexerImpl::select(const at::Tensor& hidden, const at::Tensor& which) {
  check(hidden, "select");
  const int64_t g = hidden.size(0), l = hidden.size(1) - prefix_length(), h = options_.hidden();
  LTH_CHECK(which.dim() == 2 && which.size(0) == g && which.size(1) == l, ShapeError,
            "demultiplexer select: expected instance choices [{}, {}], got {}", g, l, shape_str(which));
  const auto idx = which.to(torch::kLong);
  if (options_.kind() == DemuxKind::kMlp) {
    auto all = forward(hidden);  // [G, N, L, H]
    return all.gather(1, idx.unsqueeze(1).unsqueeze(-1).expand({g, 1, l, h})).squeeze(1);
  }
  const auto tokens = hidden.slice(1, prefix_length());
  auto k = projected_keys(hidden).gather(1, idx.unsqueeze(-1).expand({g, l, h}));  // [G, L, H]
  return layer_norm(torch::gelu(token_proj(tokens) + k).to(torch::kFloat32));  // fp32: see forward()
}

}  // namespace lth::mux
