// Where every file of an IMP run directory lives (docs/FORMATS.md, "IMP run directory"), in one
// place: the IMP driver writes through it, and `lth report`, `lth bench --run`, `lth plan` and the
// lottery module find files through it. Torch-free (target lth_run_layout), so lib/report links it.
//
//   RUNS_DIR/<task-slug>-<hash>/          RunLayout layout(dir)
//     config.json  summary.json  summary.md  rewind.safetensors
//     level_K/                            layout.level(k)
//       mask.safetensors  sparsity.json  trained_prunable.safetensors  result.json  model/
//     baselines/<name>/level_K/           layout.baseline(name, k)
#pragma once

#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace lth::prune {

// One level's folder (level_K/ of the trunk or of a baseline branch). Its training (result.json,
// metrics.jsonl, model/, checkpoint/) is the trainer's run directory.
class LevelLayout {
 public:
  explicit LevelLayout(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string mask() const { return dir_ + "/mask.safetensors"; }
  std::string sparsity() const { return dir_ + "/sparsity.json"; }
  std::string trained() const { return dir_ + "/trained_prunable.safetensors"; }  // the prunable weights after training
  std::string result() const { return dir_ + "/result.json"; }                     // written by the trainer
  std::string model() const { return dir_ + "/model"; }                            // the trained model (HF directory)

 private:
  std::string dir_;
};

// A branch: the trunk (the run directory itself) or one baseline (baselines/<name>).
class BranchLayout {
 public:
  explicit BranchLayout(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  LevelLayout level(int k) const { return LevelLayout(dir_ + "/" + level_folder(k)); }
  // The level_K folders present on disk, by K, with the paths the directory listing gives. A folder
  // that cannot be listed has none; `ec` says why.
  std::map<int, LevelLayout> levels_on_disk(std::error_code& ec) const;

  static std::string level_folder(int k) { return "level_" + std::to_string(k); }

 private:
  std::string dir_;
};

class RunLayout {
 public:
  explicit RunLayout(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string config() const { return dir_ + "/config.json"; }
  std::string summary() const { return dir_ + "/summary.json"; }
  std::string summary_table() const { return dir_ + "/summary.md"; }
  std::string rewind() const { return dir_ + "/rewind.safetensors"; }  // late rewinding's weights, captured in level 0
  std::string baselines_dir() const { return dir_ + "/baselines"; }

  BranchLayout trunk() const { return BranchLayout(dir_); }
  BranchLayout branch(const std::string& baseline) const { return BranchLayout(baselines_dir() + "/" + baseline); }
  LevelLayout level(int k) const { return trunk().level(k); }
  LevelLayout baseline(const std::string& name, int k) const { return branch(name).level(k); }

  // The baseline branches present on disk (sub-directories of baselines/) with their names, in the
  // order the directory listing gives.
  std::vector<std::pair<std::string, BranchLayout>> baselines_on_disk() const;
  // config.json, summary.json or a level_K folder: what makes a directory an IMP run.
  bool looks_like_run() const;

  // "glue/sst2" -> "glue-sst2": the task part of a run directory's name ('/' and '.' become '-').
  static std::string task_slug(const std::string& task);
  // A run directory's name inside a runs directory: "<task-slug>-<config hash>".
  static std::string run_name(const std::string& task, const std::string& config_hash) {
    return task_slug(task) + "-" + config_hash;
  }

 private:
  std::string dir_;
};

}  // namespace lth::prune
