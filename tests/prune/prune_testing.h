// Helpers for the prune tests: seeded weights of several shapes and mask set algebra.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "prune/mask.h"

namespace lth::testing {

// Matrices of the fixture's shapes plus an odd-sized one, drawn from a seeded generator.
inline prune::NamedTensors random_weights(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  prune::NamedTensors w;
  w["a.query.weight"] = at::randn({32, 32}, gen, torch::kFloat32);
  w["b.intermediate.weight"] = at::randn({64, 32}, gen, torch::kFloat32);
  w["c.output.weight"] = at::randn({32, 64}, gen, torch::kFloat32);
  w["d.odd.weight"] = at::randn({3, 7}, gen, torch::kFloat32);
  return w;
}

inline std::vector<std::string> names_of(const prune::NamedTensors& w) {
  std::vector<std::string> out;
  for (const auto& [n, t] : w) out.push_back(n);
  return out;
}

// Number of entries kept by `inner` but not by `outer` (must be 0 for inner ⊆ outer).
inline int64_t kept_outside(const prune::Mask& inner, const prune::Mask& outer) {
  int64_t n = 0;
  for (const auto& [name, t] : inner.tensors) n += t.logical_and(outer.tensors.at(name).logical_not()).sum().item<int64_t>();
  return n;
}

// Largest |w| among entries `candidates` has and `result` dropped, and smallest |w| among those `result`
// keeps, over the given names (all of `result` when `names` is empty). Magnitude pruning needs max <= min.
struct Split {
  double max_pruned = -1.0;
  double min_kept = 1e30;
};
inline Split magnitude_split(const prune::Mask& candidates, const prune::Mask& result, const prune::NamedTensors& w,
                             const std::vector<std::string>& names = {}) {
  Split s;
  for (const auto& [name, keep] : result.tensors) {
    if (!names.empty() && std::find(names.begin(), names.end(), name) == names.end()) continue;
    const auto mag = w.at(name).abs();
    const auto pruned_now = candidates.tensors.at(name).logical_and(keep.logical_not());
    if (pruned_now.any().item<bool>()) s.max_pruned = std::max(s.max_pruned, mag.masked_select(pruned_now).max().item<double>());
    if (keep.any().item<bool>()) s.min_kept = std::min(s.min_kept, mag.masked_select(keep).min().item<double>());
  }
  return s;
}

inline int64_t pruned_in(const prune::Mask& m, const std::string& name) {
  const auto& t = m.tensors.at(name);
  return t.numel() - t.sum().item<int64_t>();
}

}  // namespace lth::testing
