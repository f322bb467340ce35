// The paper's baselines: branches beside the IMP trunk (baselines/<name>/level_K), one level per
// pruned trunk level, each pruning exactly as many weights as that trunk level. A baseline is one
// row of a table (name, description, how its mask is drawn, how its weights start): the IMP driver,
// `lth prune --baselines` and `lth plan --baselines` (help text and validation) all read the table,
// so adding a baseline is adding a row.
#pragma once

#include <string>
#include <vector>

#include "prune/imp.h"
#include "prune/run_layout.h"

namespace lth::prune {

// What a baseline's mask function sees at level `level` (1, 2, ...) of its branch.
struct BranchStep {
  const ImpConfig& config;
  const NamedTensors& theta0;
  const std::vector<std::string>& prunable;
  const std::vector<Mask>& trunk;  // the trunk's masks, by level
  int level;
  int64_t target;                  // weights pruned in total (the trunk level's count)
  LevelLayout previous;            // the branch's previous level; at level 1 the trunk's level 0
  const NamedTensors& branch_trained;  // what the branch's previous level trained (empty at level 1)

  Mask previous_mask() const;             // level 1: the trunk's level-0 mask; else read from `previous`
  NamedTensors previous_trained() const;  // level 1: read from `previous`; else `branch_trained`
};

struct Baseline {
  const char* name;
  const char* description;
  Mask (*mask)(const BranchStep& step);
  // How the level's weights start. kContinue: from the previous level's trained model (step.previous.model()).
  LevelInit init;
};

// The table, in the order help texts list it.
const std::vector<Baseline>& baselines();
// The row named `name`, or nullptr.
const Baseline* find_baseline(const std::string& name);
// The names joined by `separator`: "random,reinit,oneshot,standard" with ",".
std::string baseline_names(const char* separator);
// Throws UsageError on a name no row has: "--baselines: unknown baseline 'x' (random, reinit, ...)".
void check_baseline_names(const std::vector<std::string>& names);

}  // namespace lth::prune
