#include "mux/multiplexer.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/enum_names.h"
#include "core/error.h"
#include "mux/shape.h"

namespace lth::mux {

namespace {
constexpr EnumName<MuxKind> kMuxKinds[] = {{MuxKind::kHadamard, "hadamard"},
                                           {MuxKind::kOrthogonal, "ortho"},
                                           {MuxKind::kOrthogonal, "orthogonal"},  // alias
                                           {MuxKind::kBinary, "binary"}};
}  // namespace

MuxKind mux_kind_from_name(const std::string& name) {
  if (auto kind = enum_from_name(kMuxKinds, name)) return *kind;
  LTH_FAIL(ConfigError, "unknown multiplexer '{}' (expected {})", name, enum_choices(kMuxKinds, " or "));
}

const char* mux_kind_name(MuxKind kind) { return enum_name(kMuxKinds, kind); }

MultiplexerImpl::MultiplexerImpl(MultiplexerOptions options) : options_(options) {
  const int64_t n = options_.n(), h = options_.hidden();
  LTH_CHECK(n >= 1, ConfigError, "the multiplexer needs N >= 1, got {}", n);
  LTH_CHECK(h >= 1, ConfigError, "the multiplexer needs a hidden size >= 1, got {}", h);
  LTH_CHECK(options_.kind() != MuxKind::kBinary || h >= n, ConfigError,
            "a binary multiplexer splits the hidden dim ({}) into N = {} chunks: N must not exceed it", h, n);
  torch::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed());
  at::Tensor w;
  switch (options_.kind()) {
    case MuxKind::kHadamard: {
      w = torch::zeros({n, h});
      if (options_.draw()) {
        const double norm = options_.norm() > 0 ? options_.norm() : std::sqrt(static_cast<double>(h));
        w = torch::randn({n, h}, gen, torch::kFloat32);
        w = w / w.norm(2, {1}, /*keepdim=*/true) * norm;
      }
      break;
    }
    case MuxKind::kOrthogonal: {
      w = torch::zeros({n, h, h});
      if (options_.draw()) {
        // Q of a Gaussian matrix, with the signs of R's diagonal folded in: Haar-distributed.
        auto a = torch::randn({n, h, h}, gen, torch::kFloat64);
        auto qr = at::linalg_qr(a, "reduced");
        auto q = std::get<0>(qr), r = std::get<1>(qr);
        auto signs = torch::sign(torch::diagonal(r, 0, -2, -1));
        signs = torch::where(signs == 0, torch::ones_like(signs), signs);
        w = (q * signs.unsqueeze(-2)).to(torch::kFloat32);
      }
      break;
    }
    case MuxKind::kBinary: {
      // Deterministic from (N, H): nothing is drawn, but the masks are saved like the other kinds.
      w = torch::zeros({n, h});
      for (int64_t i = 0; i < n; ++i) {
        const auto [b, e] = chunk(i);
        w[i].slice(0, b, e).fill_(1.0);
      }
      break;
    }
  }
  weights_ = register_buffer("weights", w);
}

std::pair<int64_t, int64_t> MultiplexerImpl::chunk(int64_t i) const {
  const int64_t n = options_.n(), h = options_.hidden();
  return {i * h / n, (i + 1) * h / n};
}

at::Tensor MultiplexerImpl::forward(const at::Tensor& x) {
  const int64_t n = options_.n(), h = options_.hidden();
  LTH_CHECK(x.dim() == 4 && x.size(1) == n && x.size(3) == h, ShapeError,
            "multiplexer: expected input [groups, N={}, length, hidden={}], got {}", n, h, shape_str(x));
  const auto w = weights_.to(x.scalar_type());
  switch (options_.kind()) {
    case MuxKind::kHadamard:
      return (x * w.unsqueeze(0).unsqueeze(2)).mean(1);
    case MuxKind::kOrthogonal:
      return torch::matmul(x, w).sum(1) / std::sqrt(static_cast<double>(n));
    case MuxKind::kBinary:
      return (x * w.unsqueeze(0).unsqueeze(2)).sum(1);
  }
  return {};
}

at::Tensor MultiplexerImpl::inverse(const at::Tensor& y) {
  const int64_t n = options_.n(), h = options_.hidden();
  LTH_CHECK(y.dim() == 3 && y.size(2) == h, ShapeError,
            "multiplexer inverse: expected input [groups, length, hidden={}], got {}", h, shape_str(y));
  const auto w = weights_.to(y.scalar_type());
  const auto yy = y.unsqueeze(1);  // [G, 1, L, H]
  switch (options_.kind()) {
    case MuxKind::kHadamard:
      return yy * static_cast<double>(n) / w.unsqueeze(0).unsqueeze(2);
    case MuxKind::kOrthogonal:
      return torch::matmul(yy, w.transpose(-1, -2)) * std::sqrt(static_cast<double>(n));
    case MuxKind::kBinary:
      return yy * w.unsqueeze(0).unsqueeze(2);
  }
  return {};
}

}  // namespace lth::mux
