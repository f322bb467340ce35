// lth plan: the independent jobs of a study as a JSON job list and shell command lists (the plan
// itself: lib/lottery/plan.h). Options into lottery::PlanConfig, one call, its summary printed.
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "lottery/plan.h"
#include "prune/baselines.h"

namespace lth::cli {
namespace {

void plan_command(const lottery::PlanConfig& config) {
  const lottery::PlanResult plan = lottery::run_plan(config);
  fmt::print("{} jobs ({} in stage 1, {} in stage 2)\n{}\n{}\n", plan.jobs.size(), plan.stage_jobs[0],
             plan.stage_jobs[1], plan.json_path, plan.script_path);
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto o = std::make_shared<lottery::PlanConfig>();
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
  cmd->add_option("--baselines", o->baselines, "Baselines run inside each IMP job: " + prune::baseline_names(","))
      ->delimiter(',');
  cmd->add_flag("--transfer", o->transfer, "Add mask-transfer jobs for every ordered pair of --tasks");
  add_number(*cmd, "--transfer-levels", o->transfer_levels, "Levels whose masks transfer (default: the last)", count(1, 1000))
      ->delimiter(',');
  cmd->add_option("--flags", o->flags, "More flags for every job, e.g. \"--epochs 3 --threads 4\"");
  cmd->add_option("--lth", o->lth, "The lth command in the job lines")->capture_default_str();
  cmd->add_option("--out", o->out, "Runs directory (jobs write below it; jobs.json and jobs.sh go here)")->required();
  cmd->add_option("--json", o->json_path, "Job list path (default: OUT/jobs.json)");
  cmd->add_option("--script", o->script_path, "Script path (default: OUT/jobs.sh)");
  cmd->callback([o] { plan_command(*o); });
}

}  // namespace lth::cli
