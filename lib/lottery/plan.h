// `lth plan`: the independent jobs of a study (tasks x seeds x IMP or one-shot levels, with
// baselines, and mask-transfer pairs) as a JSON job list and shell command lists. Every line is an
// ordinary, idempotent lth command (a repeated job skips what it finished), so any scheduler can
// run them: GNU parallel, a Slurm job array, or sh.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lth::lottery {

struct PlanConfig {
  std::string model, data, out, lth = "lth", flags;
  std::vector<std::string> tasks;
  std::vector<uint64_t> seeds{57};
  int levels = 10;
  double rate = 0.2;
  std::string mode = "imp";  // imp: one job per task x seed runs every level; oneshot: one job per level
  std::vector<std::string> baselines;
  bool transfer = false;
  std::vector<int> transfer_levels;  // default: the last level
  std::string json_path, script_path;  // default: out/jobs.json, out/jobs.sh
};

struct PlanJob {
  std::string id, kind, task, source;
  uint64_t seed = 0;
  int level = -1;
  int stage = 1;  // 1: prune jobs; 2: transfer jobs that need stage 1's masks
  std::string out;
  std::vector<std::string> argv;
  std::string glob;  // a mask path with one shell glob (transfer), appended unquoted after --mask
  std::vector<std::string> after;

  std::string command() const;  // the shell line
};

struct PlanResult {
  std::vector<PlanJob> jobs;
  size_t stage_jobs[2] = {0, 0};
  std::string json_path, script_path;
};

// Checks everything (tasks, seeds, baselines, the model, --flags) before writing anything, then writes
// the job list (JSON), the script and one jobs.stageN.txt per stage beside the script.
PlanResult run_plan(const PlanConfig& config);

// `s` as one shell word: unchanged when it holds only safe characters, else single-quoted.
std::string shell_quote(const std::string& s);

}  // namespace lth::lottery
