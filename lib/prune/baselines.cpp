#include "prune/baselines.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lth::prune {
namespace {

// A random mask over the whole prunable set (not nested in the trunk's), kept weights from θ0.
Mask random_mask(const BranchStep& s) {
  return prune_to(full_mask(s.theta0, s.prunable), {}, s.target, Strategy::kRandom,
                  s.config.seed * 31 + static_cast<uint64_t>(s.level));
}

// The trunk level's own mask; the weights are drawn afresh (LevelInit::kRandom).
Mask trunk_mask(const BranchStep& s) { return s.trunk[static_cast<size_t>(s.level)]; }

// Magnitude pruning of θ0 itself, straight to the level's sparsity.
Mask oneshot_mask(const BranchStep& s) {
  return prune_to(full_mask(s.theta0, s.prunable), s.theta0, s.target, s.config.strategy);
}

// Prune what the previous level of this branch trained, and keep training it (no rewinding).
Mask standard_mask(const BranchStep& s) {
  return prune_to(s.previous_mask(), s.previous_trained(), s.target, s.config.strategy);
}

}  // namespace

Mask BranchStep::previous_mask() const { return level == 1 ? trunk[0] : load_mask(previous.mask()); }

NamedTensors BranchStep::previous_trained() const {
  return level == 1 ? load_weights(previous.trained()) : branch_trained;
}

const std::vector<Baseline>& baselines() {
  static const std::vector<Baseline> kTable = {
      {"random", "a random mask at the trunk level's sparsity, kept weights from θ0", random_mask, LevelInit::kTheta0},
      {"reinit", "the trunk level's mask on freshly drawn weights", trunk_mask, LevelInit::kRandom},
      {"oneshot", "one-shot magnitude pruning of θ0 to the trunk level's sparsity", oneshot_mask, LevelInit::kTheta0},
      {"standard", "prune the previous level's trained weights and keep training them (no rewinding)", standard_mask,
       LevelInit::kContinue},
  };
  return kTable;
}

const Baseline* find_baseline(const std::string& name) {
  for (const Baseline& b : baselines()) {
    if (name == b.name) return &b;
  }
  return nullptr;
}

std::string baseline_names(const char* separator) {
  std::string out;
  for (const Baseline& b : baselines()) out += (out.empty() ? "" : separator) + std::string(b.name);
  return out;
}

void check_baseline_names(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    LTH_CHECK(find_baseline(name) != nullptr, UsageError, "--baselines: unknown baseline '{}' ({})", name,
              baseline_names(", "));
  }
}

}  // namespace lth::prune
