// lth plan: the independent jobs of a study (tasks x seeds x IMP or one-shot levels, with
// baselines, and mask-transfer pairs) as a JSON job list and shell command lists. Every line is an
// ordinary, idempotent lth command (a repeated job skips what it finished), so any scheduler can
// run them: GNU parallel, a Slurm job array, or sh.
#include <algorithm>
#include <cmath>
#include <set>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/file.h"
#include "io/checkpoint.h"
#include "tasks/task.h"

namespace lth::cli {
namespace {

struct PlanOptions {
  std::string model, data, out, lth = "lth", flags;
  std::vector<std::string> tasks;
  std::vector<uint64_t> seeds{57};
  int levels = 10;
  double rate = 0.2;
  std::string mode = "imp";  // imp: one job per task x seed runs every level; oneshot: one job per level
  std::vector<std::string> baselines;
  bool transfer = false;
  std::vector<int> transfer_levels;  // default: the last level
  std::string json_path, script_path;
};

std::string quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slug(const std::string& task) {
  std::string s = task;
  for (char& c : s)
    if (c == '/' || c == '.') c = '-';
  return s;
}

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

struct Job {
  std::string id, kind, task, source;
  uint64_t seed = 0;
  int level = -1;
  int stage = 1;
  std::string out;
  std::vector<std::string> argv;
  std::string glob;  // a mask path with one shell glob (transfer), appended unquoted after --mask
  std::vector<std::string> after;

  std::string command() const {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + quote(a);
    return line;
  }
};

void run_plan(const PlanOptions& o) {
  LTH_CHECK(!o.model.empty() && !o.out.empty() && !o.tasks.empty(), UsageError, "--model, --tasks and --out are required");
  LTH_CHECK(o.mode == "imp" || o.mode == "oneshot", UsageError, "--mode must be imp or oneshot");
  LTH_CHECK(o.levels >= 1 && o.rate > 0 && o.rate < 1, UsageError, "--levels must be >= 1 and --rate in (0, 1)");
  // Everything is checked before anything is written: a plan is only as good as its jobs.
  const auto known = tasks::task_names();
  std::set<std::string> seen_tasks;
  for (const auto& t : o.tasks) {
    LTH_CHECK(std::find(known.begin(), known.end(), t) != known.end(), UsageError, "--tasks: unknown task '{}' (known: {})",
              t, fmt::join(known, ", "));
    LTH_CHECK(seen_tasks.insert(t).second, UsageError, "--tasks: '{}' is given twice", t);
  }
  std::set<uint64_t> seen_seeds;
  for (uint64_t s : o.seeds) LTH_CHECK(seen_seeds.insert(s).second, UsageError, "--seeds: {} is given twice", s);
  static const std::set<std::string> kBaselines = {"random", "reinit", "oneshot", "standard"};
  std::set<std::string> seen_baselines;
  for (const auto& b : o.baselines) {
    LTH_CHECK(kBaselines.count(b), UsageError, "--baselines: unknown baseline '{}' (random, reinit, oneshot, standard)", b);
    LTH_CHECK(seen_baselines.insert(b).second, UsageError, "--baselines: '{}' is given twice", b);
  }
  LTH_CHECK(!o.transfer || o.tasks.size() >= 2, UsageError, "--transfer needs at least two --tasks");
  for (int k : o.transfer_levels) {
    LTH_CHECK(k >= 1 && k <= o.levels, UsageError, "--transfer-levels: {} is outside 1..{}", k, o.levels);
  }
  LTH_CHECK(o.transfer || o.transfer_levels.empty(), UsageError, "--transfer-levels needs --transfer");
  io::find_checkpoint(o.model);  // IoError naming the directory when there is no checkpoint
  LTH_CHECK(o.data.empty() || std::filesystem::is_directory(o.data), IoError, "{}: no such data directory (--data)", o.data);
  const auto extra = words(o.flags);
  // --flags may not repeat a flag, nor give one that plan sets itself.
  static const std::set<std::string> kOwned = {"--model", "--task", "--data", "--seed", "--levels", "--rate",
                                               "--baselines", "--out", "--mask"};
  std::set<std::string> seen_flags;
  for (const auto& w : extra) {
    if (w.rfind("--", 0) != 0) continue;
    const std::string name = w.substr(0, w.find('='));
    LTH_CHECK(!kOwned.count(name), UsageError, "--flags: {} is set by lth plan itself (use its own option)", name);
    LTH_CHECK(seen_flags.insert(name).second, UsageError, "--flags: {} is given twice", name);
  }
  auto base = [&](const char* verb, const std::string& task, uint64_t seed) {
    std::vector<std::string> a{o.lth, verb, "--model", o.model, "--task", task};
    if (!o.data.empty()) a.insert(a.end(), {"--data", o.data});
    a.insert(a.end(), {"--seed", std::to_string(seed)});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  std::vector<Job> jobs;
  for (const auto& task : o.tasks) {
    for (uint64_t seed : o.seeds) {
      const int first = o.mode == "imp" ? o.levels : 1;
      for (int k = first; k <= o.levels; ++k) {
        Job j;
        j.kind = o.mode;
        j.task = task;
        j.seed = seed;
        j.argv = base("prune", task, seed);
        double rate = o.rate;
        if (o.mode == "imp") {
          j.id = fmt::format("imp/{}/seed{}", slug(task), seed);
          j.out = fmt::format("{}/imp/{}/seed{}", o.out, slug(task), seed);
          j.argv.insert(j.argv.end(), {"--levels", std::to_string(o.levels)});
        } else {  // one level pruning straight to level k's sparsity (geometric schedule)
          rate = 1.0 - std::pow(1.0 - o.rate, k);
          j.level = k;
          j.id = fmt::format("oneshot/{}/seed{}/level{}", slug(task), seed, k);
          j.out = fmt::format("{}/oneshot/{}/seed{}/level{}", o.out, slug(task), seed, k);
          j.argv.insert(j.argv.end(), {"--levels", "1"});
        }
        j.argv.insert(j.argv.end(), {"--rate", fmt::format("{:.6g}", rate)});
        if (!o.baselines.empty()) j.argv.insert(j.argv.end(), {"--baselines", fmt::format("{}", fmt::join(o.baselines, ","))});
        j.argv.insert(j.argv.end(), {"--out", j.out});
        jobs.push_back(j);
      }
    }
  }
  if (o.transfer) {
    std::vector<int> levels = o.transfer_levels;
    if (levels.empty()) levels.push_back(o.levels);
    const size_t stage1 = jobs.size();
    for (const auto& source : o.tasks) {
      for (const auto& target : o.tasks) {
        if (source == target) continue;
        for (uint64_t seed : o.seeds) {
          for (int k : levels) {
            LTH_CHECK(k >= 1 && k <= o.levels, UsageError, "--transfer-levels: {} is outside 1..{}", k, o.levels);
            Job j;
            j.kind = "transfer";
            j.stage = 2;
            j.source = source;
            j.task = target;
            j.seed = seed;
            j.level = k;
            j.id = fmt::format("transfer/{}-L{}-to-{}/seed{}", slug(source), k, slug(target), seed);
            j.out = fmt::format("{}/transfer/{}-L{}-to-{}/seed{}", o.out, slug(source), k, slug(target), seed);
            for (size_t i = 0; i < stage1; ++i) {
              const Job& p = jobs[i];
              if (p.task == source && p.seed == seed && (p.level == -1 || p.level == k)) {
                j.after.push_back(p.id);
                // The IMP run directory is <out>/<task>-<config hash>: the one directory in the job's --out.
                j.glob = p.level == -1 ? fmt::format("{}/*/level_{}/mask.safetensors", quote(p.out), k)
                                       : fmt::format("{}/*/level_1/mask.safetensors", quote(p.out));
              }
            }
            j.argv = base("transfer", target, seed);
            j.argv.insert(j.argv.end(), {"--out", j.out});
            jobs.push_back(j);
          }
        }
      }
    }
  }

  nlohmann::json list = nlohmann::json::array();
  std::vector<std::string> stage_lines[2];
  for (const auto& j : jobs) {
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
  const std::string json_path = o.json_path.empty() ? o.out + "/jobs.json" : o.json_path;
  const std::string script_path = o.script_path.empty() ? o.out + "/jobs.sh" : o.script_path;
  write_file_atomic(json_path, nlohmann::json{{"schema", 1}, {"runs", o.out}, {"jobs", list}}.dump(2) + "\n");
  std::string script = "#!/bin/sh\n# Generated by lth plan. Each line is one idempotent job; run it again to resume it.\n";
  script += fmt::format("# Stage 1: {} independent jobs", stage_lines[0].size());
  if (!stage_lines[1].empty()) script += fmt::format("; stage 2: {} transfer jobs that need stage 1's masks", stage_lines[1].size());
  script += ".\n# Parallel: parallel -j N < jobs.stage1.txt && parallel -j N < jobs.stage2.txt (see docs/SCALING.md)\nset -e\n";
  for (int s = 0; s < 2; ++s) {
    if (stage_lines[s].empty()) continue;
    script += fmt::format("\n# stage {}\n", s + 1);
    std::string txt;
    for (const auto& l : stage_lines[s]) {
      script += l + "\n";
      txt += l + "\n";
    }
    const std::string dir = std::filesystem::path(script_path).parent_path().string();
    write_file_atomic(dir + fmt::format("/jobs.stage{}.txt", s + 1), txt);
  }
  write_file_atomic(script_path, script);
  fmt::print("{} jobs ({} in stage 1, {} in stage 2)\n{}\n{}\n", jobs.size(), stage_lines[0].size(), stage_lines[1].size(),
             json_path, script_path);
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto o = std::make_shared<PlanOptions>();
  auto* cmd = app.add_subcommand("plan", "Write a study's independent jobs (JSON + shell lines for GNU parallel or Slurm)");
  cmd->add_option("--model", o->model, "θ0: Hugging Face checkpoint directory")->required();
  cmd->add_option("--tasks", o->tasks, "Tasks (comma-separated)")->delimiter(',')->required();
  cmd->add_option("--data", o->data, "Data root passed to every job (the GLUE root)");
  add_number(*cmd, "--seeds", o->seeds, "Seeds (comma-separated)", count(0, 9007199254740992.0))
      ->delimiter(',')
      ->capture_default_str();
  add_number(*cmd, "--levels", o->levels, "Pruning levels", count(1, 1000))->capture_default_str();
  add_number(*cmd, "--rate", o->rate, "Fraction pruned per level", Range{0.0, 1.0, true, false, true})
      ->capture_default_str();
  cmd->add_option("--mode", o->mode, "imp: one job per task x seed (levels in order); oneshot: one job per level")
      ->capture_default_str()
      ->check(CLI::IsMember({"imp", "oneshot"}));
  cmd->add_option("--baselines", o->baselines, "Baselines run inside each IMP job: random,reinit,oneshot,standard")
      ->delimiter(',');
  cmd->add_flag("--transfer", o->transfer, "Add mask-transfer jobs for every ordered pair of --tasks");
  add_number(*cmd, "--transfer-levels", o->transfer_levels, "Levels whose masks transfer (default: the last)", count(1, 1000))
      ->delimiter(',');
  cmd->add_option("--flags", o->flags, "More flags for every job, e.g. \"--epochs 3 --threads 4\"");
  cmd->add_option("--lth", o->lth, "The lth command in the job lines")->capture_default_str();
  cmd->add_option("--out", o->out, "Runs directory (jobs write below it; jobs.json and jobs.sh go here)")->required();
  cmd->add_option("--json", o->json_path, "Job list path (default: OUT/jobs.json)");
  cmd->add_option("--script", o->script_path, "Script path (default: OUT/jobs.sh)");
  cmd->callback([o] { run_plan(*o); });
}

}  // namespace lth::cli
