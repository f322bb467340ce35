// Iterative magnitude pruning with rewinding (Frankle & Carbin; Chen et al. for pretrained BERT),
// with the paper's baselines as branches beside the trunk (prune/baselines.h, one table row each).
// The driver writes the run directory (its layout: prune/run_layout.h) and owns the order of stages;
// training a level is a callback, so this module does not depend on tasks.
// Every stage skips itself when its outputs exist: a killed run resumes where it stopped.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "prune/mask.h"
#include "prune/strategy.h"

namespace lth::prune {

struct ImpConfig {
  int levels = 10;               // levels after the dense level 0
  double rate = 0.2;
  Schedule schedule = Schedule::kGeometric;
  double target_sparsity = 0.0;  // > 0: stop at the first level reaching it
  Strategy strategy = Strategy::kGlobal;
  std::string rewind = "init";   // "init" (θ0) or a step of level-0 training ("500it", "1ep")
  std::vector<std::string> baselines;  // names of prune/baselines.h's table: random, reinit, oneshot, standard
  uint64_t seed = 57;
  std::string run_dir;
  std::string task;
  std::string metric;             // the main metric (result.json "final")
  std::string config_hash;
  std::string fingerprint;        // of θ0's prunable tensors
  // Matrices of the prunable set that θ0 lacks (initialised at load, not pretrained) and whether they
  // are pruned all the same (--prune-new-params); recorded in summary.json and the mask metadata.
  std::vector<std::string> new_parameters;
  bool prune_new_params = false;
};

enum class LevelInit {
  kTheta0,    // kept weights (and everything else) from θ0
  kRewind,    // from the rewind point of level 0 (RunLayout::rewind())
  kRandom,    // re-drawn at random (the "reinit" baseline)
  kContinue,  // from `continue_dir` (the "standard" baseline: no rewinding)
};

struct LevelSpec {
  std::string dir;
  const Mask* mask = nullptr;
  LevelInit init = LevelInit::kTheta0;
  std::string continue_dir;       // kContinue: an HF checkpoint directory
  std::string capture_rewind_to;  // non-empty on level 0 with late rewinding: save weights here at the rewind step
};

struct LevelOutcome {
  nlohmann::json metrics;  // final metrics
  NamedTensors trained;    // the prunable weights after training
};

using TrainLevelFn = std::function<LevelOutcome(const LevelSpec&)>;

// Runs (or resumes) the whole study; returns summary.json's content (docs/FORMATS.md).
nlohmann::json run_imp(const ImpConfig& config, const NamedTensors& theta0, const std::vector<std::string>& prunable,
                       const TrainLevelFn& train_level);

// Weights files (trained_prunable.safetensors): float32 CPU tensors by name.
void save_weights(const std::string& path, const NamedTensors& tensors);
NamedTensors load_weights(const std::string& path);

// The summary as an aligned text table (level, sparsity, metric, Δ vs dense, "matching (strict)":
// one run has one seed, so Chen et al.'s matching, which needs the dense std, is `lth report`'s).
std::string summary_table(const nlohmann::json& summary);

}  // namespace lth::prune
