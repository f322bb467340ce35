#include "lottery/plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "io/checkpoint.h"
#include "prune/baselines.h"
#include "prune/run_layout.h"
#include "tasks/task.h"

namespace lth::lottery {
namespace {

using prune::RunLayout;

// Words of --flags (split on spaces; quote nothing there that needs quoting).
std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!w.empty()) out.push_back(w);
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

// Tasks, seeds, baselines and transfer levels: known, given once, consistent.
void check_lists(const PlanConfig& o) {
  const auto known = tasks::task_names();
  std::set<std::string> seen_tasks;
  for (const auto& t : o.tasks) {
    LTH_CHECK(std::find(known.begin(), known.end(), t) != known.end(), UsageError, "--tasks: unknown task '{}' (known: {})",
              t, fmt::join(known, ", "));
    LTH_CHECK(seen_tasks.insert(t).second, UsageError, "--tasks: '{}' is given twice", t);
  }
  std::set<uint64_t> seen_seeds;
  for (uint64_t s : o.seeds) LTH_CHECK(seen_seeds.insert(s).second, UsageError, "--seeds: {} is given twice", s);
  std::set<std::string> seen_baselines;
  for (const auto& b : o.baselines) {
    prune::check_baseline_names({b});
    LTH_CHECK(seen_baselines.insert(b).second, UsageError, "--baselines: '{}' is given twice", b);
  }
  LTH_CHECK(!o.transfer || o.tasks.size() >= 2, UsageError, "--transfer needs at least two --tasks");
  for (int k : o.transfer_levels) {
    LTH_CHECK(k >= 1 && k <= o.levels, UsageError, "--transfer-levels: {} is outside 1..{}", k, o.levels);
  }
  LTH_CHECK(o.transfer || o.transfer_levels.empty(), UsageError, "--transfer-levels needs --transfer");
}

// --flags may not repeat a flag, nor give one that plan sets itself; returns its words.
std::vector<std::string> checked_flags(const std::string& flags) {
  static const std::set<std::string> kOwned = {"--model", "--task", "--data", "--seed", "--levels", "--rate",
                                               "--baselines", "--out", "--mask"};
  const auto extra = words(flags);
  std::set<std::string> seen_flags;
  for (const auto& w : extra) {
    if (w.rfind("--", 0) != 0) continue;
    const std::string name = w.substr(0, w.find('='));
    LTH_CHECK(!kOwned.count(name), UsageError, "--flags: {} is set by lth plan itself (use its own option)", name);
    LTH_CHECK(seen_flags.insert(name).second, UsageError, "--flags: {} is given twice", name);
  }
  return extra;
}

// Everything is checked before anything is written: a plan is only as good as its jobs.
std::vector<std::string> check(const PlanConfig& o) {
  LTH_CHECK(!o.model.empty() && !o.out.empty() && !o.tasks.empty(), UsageError, "--model, --tasks and --out are required");
  LTH_CHECK(o.mode == "imp" || o.mode == "oneshot", UsageError, "--mode must be imp or oneshot");
  LTH_CHECK(o.levels >= 1 && o.rate > 0 && o.rate < 1, UsageError, "--levels must be >= 1 and --rate in (0, 1)");
  check_lists(o);
  io::find_checkpoint(o.model);  // IoError naming the directory when there is no checkpoint
  LTH_CHECK(o.data.empty() || std::filesystem::is_directory(o.data), IoError, "{}: no such data directory (--data)", o.data);
  return checked_flags(o.flags);
}

std::vector<std::string> job_argv(const PlanConfig& o, const std::vector<std::string>& extra, const char* verb,
                                  const std::string& task, uint64_t seed) {
  std::vector<std::string> a{o.lth, verb, "--model", o.model, "--task", task};
  if (!o.data.empty()) a.insert(a.end(), {"--data", o.data});
  a.insert(a.end(), {"--seed", std::to_string(seed)});
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Stage 1: one IMP job per task x seed (all levels), or one job per level pruning straight to its
// sparsity (one-shot, geometric schedule).
PlanJob prune_job(const PlanConfig& o, const std::vector<std::string>& extra, const std::string& task, uint64_t seed,
                  int k) {
  PlanJob j;
  j.kind = o.mode;
  j.task = task;
  j.seed = seed;
  j.argv = job_argv(o, extra, "prune", task, seed);
  const std::string slug = RunLayout::task_slug(task);
  double rate = o.rate;
  if (o.mode == "imp") {
    j.id = fmt::format("imp/{}/seed{}", slug, seed);
    j.out = fmt::format("{}/imp/{}/seed{}", o.out, slug, seed);
    j.argv.insert(j.argv.end(), {"--levels", std::to_string(o.levels)});
  } else {
    rate = 1.0 - std::pow(1.0 - o.rate, k);
    j.level = k;
    j.id = fmt::format("oneshot/{}/seed{}/level{}", slug, seed, k);
    j.out = fmt::format("{}/oneshot/{}/seed{}/level{}", o.out, slug, seed, k);
    j.argv.insert(j.argv.end(), {"--levels", "1"});
  }
  j.argv.insert(j.argv.end(), {"--rate", fmt::format("{:.6g}", rate)});
  if (!o.baselines.empty()) j.argv.insert(j.argv.end(), {"--baselines", fmt::format("{}", fmt::join(o.baselines, ","))});
  j.argv.insert(j.argv.end(), {"--out", j.out});
  return j;
}

// Stage 2: source's level-k mask (from the stage-1 job that writes it) fine-tuned on target.
PlanJob transfer_job(const PlanConfig& o, const std::vector<std::string>& extra, const std::vector<PlanJob>& stage1,
                     const std::string& source, const std::string& target, uint64_t seed, int k) {
  PlanJob j;
  j.kind = "transfer";
  j.stage = 2;
  j.source = source;
  j.task = target;
  j.seed = seed;
  j.level = k;
  const std::string route = fmt::format("{}-L{}-to-{}", RunLayout::task_slug(source), k, RunLayout::task_slug(target));
  j.id = fmt::format("transfer/{}/seed{}", route, seed);
  j.out = fmt::format("{}/transfer/{}/seed{}", o.out, route, seed);
  for (const PlanJob& p : stage1) {
    if (p.task == source && p.seed == seed && (p.level == -1 || p.level == k)) {
      j.after.push_back(p.id);
      // The IMP run directory is <out>/<task>-<config hash>: the one directory in the job's --out.
      j.glob = RunLayout(shell_quote(p.out) + "/*").level(p.level == -1 ? k : 1).mask();
    }
  }
  j.argv = job_argv(o, extra, "transfer", target, seed);
  j.argv.insert(j.argv.end(), {"--out", j.out});
  return j;
}

std::vector<PlanJob> plan_jobs(const PlanConfig& o, const std::vector<std::string>& extra) {
  std::vector<PlanJob> jobs;
  for (const auto& task : o.tasks) {
    for (uint64_t seed : o.seeds) {
      for (int k = o.mode == "imp" ? o.levels : 1; k <= o.levels; ++k) jobs.push_back(prune_job(o, extra, task, seed, k));
    }
  }
  if (!o.transfer) return jobs;
  const std::vector<int> levels = o.transfer_levels.empty() ? std::vector<int>{o.levels} : o.transfer_levels;
  const std::vector<PlanJob> stage1 = jobs;
  for (const auto& source : o.tasks) {
    for (const auto& target : o.tasks) {
      if (source == target) continue;
      for (uint64_t seed : o.seeds) {
        for (int k : levels) jobs.push_back(transfer_job(o, extra, stage1, source, target, seed, k));
      }
    }
  }
  return jobs;
}

std::string script_text(const std::vector<std::string> (&stage_lines)[2]) {
  std::string script = "#!/bin/sh\n# Generated by lth plan. Each line is one idempotent job; run it again to resume it.\n";
  script += fmt::format("# Stage 1: {} independent jobs", stage_lines[0].size());
  if (!stage_lines[1].empty()) script += fmt::format("; stage 2: {} transfer jobs that need stage 1's masks", stage_lines[1].size());
  script += ".\n# Parallel: parallel -j N < jobs.stage1.txt && parallel -j N < jobs.stage2.txt (see docs/SCALING.md)\nset -e\n";
  for (int s = 0; s < 2; ++s) {
    if (stage_lines[s].empty()) continue;
    script += fmt::format("\n# stage {}\n", s + 1);
    for (const auto& l : stage_lines[s]) script += l + "\n";
  }
  return script;
}

// jobs.json, the script and jobs.stageN.txt beside the script.
void write_plan(const PlanConfig& o, PlanResult& result) {
  nlohmann::json list = nlohmann::json::array();
  std::vector<std::string> stage_lines[2];
  for (const auto& j : result.jobs) {
    std::string line = j.command();
    if (!j.glob.empty()) line += " --mask " + j.glob;
    stage_lines[j.stage - 1].push_back(line);
    nlohmann::json e = {{"id", j.id}, {"stage", j.stage}, {"kind", j.kind}, {"task", j.task}, {"seed", j.seed},
                        {"out", j.out}, {"command", line}, {"after", j.after}};
    if (j.level >= 0) e["level"] = j.level;
    if (!j.source.empty()) e["source"] = j.source;
    list.push_back(e);
  }
  make_dirs(o.out);
  write_file_atomic(result.json_path, nlohmann::json{{"schema", 1}, {"runs", o.out}, {"jobs", list}}.dump(2) + "\n");
  // The stage files go beside the script ("jobs.sh" alone: the current directory, not "/").
  std::string dir = std::filesystem::path(result.script_path).parent_path().string();
  if (dir.empty()) dir = ".";
  for (int s = 0; s < 2; ++s) {
    result.stage_jobs[s] = stage_lines[s].size();
    if (stage_lines[s].empty()) continue;
    std::string txt;
    for (const auto& l : stage_lines[s]) txt += l + "\n";
    write_file_atomic(dir + fmt::format("/jobs.stage{}.txt", s + 1), txt);
  }
  write_file_atomic(result.script_path, script_text(stage_lines));
}

}  // namespace

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string PlanJob::command() const {
  std::string line;
  for (const auto& a : argv) line += (line.empty() ? "" : " ") + shell_quote(a);
  return line;
}

PlanResult run_plan(const PlanConfig& config) {
  const auto extra = check(config);
  PlanResult result;
  result.jobs = plan_jobs(config, extra);
  result.json_path = config.json_path.empty() ? config.out + "/jobs.json" : config.json_path;
  result.script_path = config.script_path.empty() ? config.out + "/jobs.sh" : config.script_path;
  write_plan(config, result);
  return result;
}

}  // namespace lth::lottery
