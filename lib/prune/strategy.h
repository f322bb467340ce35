// Pruning strategies and schedules as pure functions: (current mask, weights, target) -> new mask.
#pragma once

#include <cstdint>
#include <string>

#include "prune/mask.h"

namespace lth::prune {

enum class Strategy { kGlobal, kLayerwise, kRandom, kRandomLayerwise };
Strategy parse_strategy(const std::string& name);  // global | layerwise | random | random-layerwise
std::string strategy_name(Strategy s);

// geometric: each level prunes `rate` of the REMAINING weights (open_lth; 0.2 -> 20%, 36%, 48.8%);
// linear: level k has pruned k * rate of the ORIGINAL weights (Chen et al.'s code; 0.1 -> 10%, 20%).
enum class Schedule { kGeometric, kLinear };
Schedule parse_schedule(const std::string& name);  // geometric | linear
std::string schedule_name(Schedule s);

// Weights pruned in total at `level` (level 0 = 0), rounded to the nearest weight, capped at total.
int64_t pruned_at_level(int64_t total, int level, double rate, Schedule schedule);
double sparsity_at_level(int level, double rate, Schedule schedule);

// A new mask with exactly `target_pruned` weights pruned in total (layerwise strategies: each
// matrix pruned to round(target fraction × its size)), pruning only weights `current` keeps: masks
// only shrink. Magnitude strategies rank |weights| (ties broken by name, then flat index, so the
// count is exact); random strategies draw from a generator seeded with `seed`.
Mask prune_to(const Mask& current, const NamedTensors& weights, int64_t target_pruned, Strategy strategy,
              uint64_t seed = 0);

}  // namespace lth::prune
