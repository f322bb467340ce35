#include "prune/strategy.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/enum_names.h"
#include "core/error.h"

namespace lth::prune {
namespace {

// Prunes exactly `count` of the entries that `keep` marks, lowest `score` first. Ties at the
// threshold are taken in (name, flat index) order. `scores` and `keeps` are flat float/bool tensors.
void prune_lowest(std::vector<at::Tensor>& keeps, const std::vector<at::Tensor>& scores, int64_t count) {
  if (count <= 0) return;
  std::vector<at::Tensor> kept_scores;
  for (size_t i = 0; i < keeps.size(); ++i) kept_scores.push_back(scores[i].masked_select(keeps[i]));
  const auto all = torch::cat(kept_scores);
  LTH_CHECK(count <= all.numel(), Error, "cannot prune {} weights: only {} remain", count, all.numel());
  const float threshold = std::get<0>(all.kthvalue(count)).item<float>();
  int64_t below = 0;
  for (size_t i = 0; i < keeps.size(); ++i) below += scores[i].lt(threshold).logical_and(keeps[i]).sum().item<int64_t>();
  int64_t ties_to_prune = count - below;
  for (size_t i = 0; i < keeps.size(); ++i) {
    auto below_i = scores[i].lt(threshold).logical_and(keeps[i]);
    if (ties_to_prune > 0) {
      auto tie = scores[i].eq(threshold).logical_and(keeps[i]);
      const int64_t n_tie = tie.sum().item<int64_t>();
      if (n_tie > 0) {
        const int64_t take = std::min(ties_to_prune, n_tie);
        auto positions = tie.nonzero().squeeze(1).slice(0, 0, take);
        below_i.index_fill_(0, positions, true);
        ties_to_prune -= take;
      }
    }
    keeps[i] = keeps[i].logical_and(below_i.logical_not());
  }
}

}  // namespace

namespace {
constexpr EnumName<Strategy> kStrategies[] = {{Strategy::kGlobal, "global"},
                                              {Strategy::kLayerwise, "layerwise"},
                                              {Strategy::kRandom, "random"},
                                              {Strategy::kRandomLayerwise, "random-layerwise"}};
}  // namespace

Strategy parse_strategy(const std::string& name) {
  if (auto s = enum_from_name(kStrategies, name)) return *s;
  LTH_FAIL(UsageError, "--strategy: unknown '{}' ({})", name, enum_choices(kStrategies));
}

std::string strategy_name(Strategy s) { return enum_name(kStrategies, s); }

Schedule parse_schedule(const std::string& name) {
  if (name == "geometric") return Schedule::kGeometric;
  if (name == "linear") return Schedule::kLinear;
  LTH_FAIL(UsageError, "--schedule: unknown '{}' (geometric, linear)", name);
}

std::string schedule_name(Schedule s) { return s == Schedule::kLinear ? "linear" : "geometric"; }

double sparsity_at_level(int level, double rate, Schedule schedule) {
  if (level <= 0) return 0.0;
  if (schedule == Schedule::kLinear) return std::min(1.0, rate * level);
  return 1.0 - std::pow(1.0 - rate, level);
}

int64_t pruned_at_level(int64_t total, int level, double rate, Schedule schedule) {
  LTH_CHECK(rate > 0.0 && rate < 1.0, UsageError, "--rate must be in (0, 1), got {}", rate);
  const double n = std::llround(static_cast<double>(total) * sparsity_at_level(level, rate, schedule));
  return std::min<int64_t>(total, static_cast<int64_t>(n));
}

Mask prune_to(const Mask& current, const NamedTensors& weights, int64_t target_pruned, Strategy strategy,
              uint64_t seed) {
  Mask next;
  next.metadata = current.metadata;
  std::vector<std::string> names;
  std::vector<at::Tensor> keeps, scores;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& [name, m] : current.tensors) {
    names.push_back(name);
    keeps.push_back(m.flatten().to(torch::kBool).clone());
    if (strategy == Strategy::kRandom || strategy == Strategy::kRandomLayerwise) {
      scores.push_back(at::rand({m.numel()}, generator, torch::kFloat32));
    } else {
      auto it = weights.find(name);
      LTH_CHECK(it != weights.end(), ShapeError, "no weights for masked parameter '{}'", name);
      LTH_CHECK(it->second.sizes() == m.sizes(), ShapeError, "weights and mask of '{}' differ in shape", name);
      scores.push_back(it->second.detach().to(torch::kCPU, torch::kFloat32).abs().flatten());
    }
  }
  const int64_t total = current.total();
  LTH_CHECK(target_pruned >= 0 && target_pruned <= total, Error, "target of {} pruned weights is outside [0, {}]",
            target_pruned, total);
  if (strategy == Strategy::kGlobal || strategy == Strategy::kRandom) {
    prune_lowest(keeps, scores, target_pruned - current.pruned());
  } else {
    const double fraction = static_cast<double>(target_pruned) / static_cast<double>(total);
    for (size_t i = 0; i < keeps.size(); ++i) {
      const int64_t size = keeps[i].numel();
      const int64_t already = size - keeps[i].sum().item<int64_t>();
      const int64_t want = std::llround(fraction * static_cast<double>(size));
      std::vector<at::Tensor> k{keeps[i]};
      prune_lowest(k, {scores[i]}, want - already);
      keeps[i] = k[0];
    }
  }
  for (size_t i = 0; i < names.size(); ++i) next.tensors[names[i]] = keeps[i].view(current.tensors.at(names[i]).sizes());
  return next;
}

}  // namespace lth::prune
