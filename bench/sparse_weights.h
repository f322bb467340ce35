// Pruned weights for the sparse-linear benchmarks.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace lth::bench {

// How kept weights are placed.
//   kUniform: every position kept with the same probability (uniform random mask).
//   kMagnitude: W = randn * row_scale * col_scale with log-normal scales, then the smallest |w| are
//     pruned globally to the exact sparsity, as global magnitude pruning does. Rows and columns end up
//     with very different kept counts (a realistic, non-uniform row distribution).
enum class MaskKind { kUniform, kMagnitude };

inline at::Tensor pruned_weight(int64_t out, int64_t in, double sparsity, MaskKind kind, uint64_t seed) {
  torch::manual_seed(seed);
  at::Tensor w = torch::randn({out, in}) * 0.05;
  if (kind == MaskKind::kUniform) return w * (torch::rand({out, in}) >= sparsity).to(torch::kFloat32);
  const at::Tensor row_scale = torch::exp(0.5 * torch::randn({out, 1}));
  const at::Tensor col_scale = torch::exp(0.5 * torch::randn({1, in}));
  w = w * row_scale * col_scale;
  const int64_t prune = static_cast<int64_t>(sparsity * static_cast<double>(out * in));
  if (prune <= 0) return w;
  const at::Tensor order = w.abs().flatten().argsort();
  at::Tensor flat = w.flatten().clone();
  flat.index_put_({order.slice(0, 0, prune)}, 0.0);
  return flat.view({out, in});
}

}  // namespace lth::bench
