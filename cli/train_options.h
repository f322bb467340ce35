// Options shared by the commands that train (finetune, pretrain, prune, transfer): a typed config
// with precedence defaults < --config FILE.json < flags, and --dump-config.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "tasks/task.h"
#include "train/trainer.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace lth::cli {

struct BoundOptions;  // cli/option_table.h

struct TrainingConfig {
  TrainingConfig() { train.precision = "auto"; }  // resolved per machine
  std::string model;
  std::string task;
  std::string out;
  bool pad_to_max_length = false;  // resolved into train.pad_to (= max_length)
  train::TrainConfig train;
  tasks::TaskOptions task_options;
  RuntimeOptions runtime;
  bool force = false;  // --force: replace a run with other settings in --out (not part of the config)

  // The config as JSON (config.json, --dump-config, the run identity): every key of the options
  // table in cli/train_options.cpp, plus world_size under data parallelism.
  nlohmann::json to_json() const;
  // Overwrites fields present in `j`; unknown keys are a ConfigError naming the key and file.
  // `more`: the keys of options added beside the training ones (lth prune's IMP settings).
  void merge_json(const nlohmann::json& j, const std::string& source, const BoundOptions* more = nullptr);
};

// Adds the training options to `cmd`, bound to `cfg`; returns a function to call first thing in the
// callback: it applies --config and the explicitly given flags in the right order, handles
// --dump-config (prints and returns false: the command must stop), and applies runtime options.
// `more`, when given, adds a command's own options after the training ones (e.g. bind_options of
// lth prune's IMP table); they take part in --config, --dump-config and the checks.
std::function<bool()> add_training_options(CLI::App& cmd, std::shared_ptr<TrainingConfig> cfg, bool with_task = true,
                                           const std::function<BoundOptions(CLI::App&)>& more = nullptr);

}  // namespace lth::cli
