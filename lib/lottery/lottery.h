// Lottery-ticket studies on a task: IMP runs (the trunk and baselines) and mask transfer. These glue
// lib/prune's driver to real fine-tuning (lib/train + a task); with data parallelism the ranks
// follow rank 0's driver (lottery/distributed.h). The run directory's files: prune/run_layout.h.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "prune/imp.h"
#include "tasks/task.h"
#include "train/trainer.h"

namespace lth::lottery {

struct LotteryConfig {
  std::string model;     // θ0: an HF checkpoint directory
  std::string task;
  std::string runs_dir;  // the run directory is created inside: <task-slug>-<hash>
  train::TrainConfig train;
  tasks::TaskOptions task_options;
  prune::ImpConfig imp;  // levels, rate, schedule, strategy, rewind, baselines, target (run_dir etc. filled in)
  std::vector<std::string> include, exclude;  // prunable-set globs
  nlohmann::json resolved;  // the full config (written to config.json)
  nlohmann::json hashed;    // the non-default values (the run's identity)
};

struct LotteryResult {
  std::string run_dir;
  nlohmann::json summary;
};

LotteryResult run_lottery(const LotteryConfig& config);

// "glue/sst2" + hash -> "glue-sst2-<first 10 hex of sha256(hashed.dump())>" (prune::RunLayout::run_name).
std::string run_name(const std::string& task, const nlohmann::json& hashed);

struct TransferConfig {
  std::string mask;   // mask.safetensors
  std::string model;  // θ0
  std::string task;
  std::string out;
  train::TrainConfig train;
  tasks::TaskOptions task_options;
};

// Fine-tunes θ0 ⊙ mask on a task with a new head; returns the final metrics (exact zeros kept).
nlohmann::json run_transfer(const TransferConfig& config);

}  // namespace lth::lottery
