// `lth transfer --matrix` as one call: every mask × every target task fine-tuned (lottery::run_transfer),
// each in its own run directory under `out`, and the table of their main metric written beside them
// (report/transfer_matrix.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/report.h"
#include "tasks/task.h"
#include "train/trainer.h"

namespace lth::lottery {

struct TransferMatrixConfig {
  std::vector<std::string> masks;    // mask.safetensors files (the sources)
  std::vector<std::string> targets;  // target tasks
  std::string model;                 // θ0
  std::string out;                   // a directory of runs (not itself a run)
  train::TrainConfig train;
  tasks::TaskOptions task_options;   // data and texts filled in
  nlohmann::json resolved;           // the training config; each run's identity adds task and mask_sha256
  bool force = false;
};

// A transfer run is its settings, its target task and the mask's content (not the mask's path).
nlohmann::json transfer_identity(const nlohmann::json& resolved, const std::string& target, const std::string& mask);

// A source's name in the table: "<task>@<sparsity>%" from the mask's metadata, else the file's stem.
std::string transfer_source_name(const std::string& mask_path);

// Runs (or reuses) every transfer; writes transfer-matrix.json and .md into `out` and returns the table.
report::TransferMatrix run_transfer_matrix(const TransferMatrixConfig& config);

}  // namespace lth::lottery
