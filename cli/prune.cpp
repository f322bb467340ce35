// lth prune (IMP with rewinding + baselines), lth transfer (masks across tasks), lth mask (tools).
#include <set>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/option_table.h"
#include "cli/options.h"
#include "cli/train_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/run_identity.h"
#include "core/step.h"
#include "model/load.h"
#include "lottery/lottery.h"
#include "lottery/transfer_matrix.h"
#include "prune/baselines.h"
#include "prune/imp.h"
#include "report/transfer_matrix.h"

namespace lth::cli {
namespace {

// lth prune's own settings (strings where the library takes enums: the flags' and config keys'
// spelling), declared once in imp_table().
struct ImpOptions {
  int levels = 10;
  double rate = 0.2;
  std::string schedule = "geometric";
  double target_sparsity = 0.0;
  std::string strategy = "global";
  std::string rewind = "init";
  std::vector<std::string> baselines;
  std::vector<std::string> include, exclude;
  bool prune_new_params = false;
};

std::shared_ptr<const OptionTable<ImpOptions>> imp_table() {
  auto t = std::make_shared<OptionTable<ImpOptions>>();
  t->field("levels", "Pruning levels after the dense level 0", [](auto& o) -> auto& { return o.levels; })
      .default_shown().in_range(count(0, 1000));
  t->field("rate", "Fraction pruned per level (see --schedule)", [](auto& o) -> auto& { return o.rate; })
      .default_shown().in_range(Range{0.0, 1.0, true, false, true});
  t->field("schedule",
           "geometric: prune --rate of the REMAINING weights per level (open_lth); linear: level k has "
           "k*rate of the ORIGINAL weights pruned (Chen et al.)",
           [](auto& o) -> auto& { return o.schedule; })
      .default_shown().one_of({"geometric", "linear"});
  t->field("target_sparsity", "Stop at the first level reaching this sparsity (0 = off)",
           [](auto& o) -> auto& { return o.target_sparsity; })
      .default_shown().in_range(fraction_closed_open());
  t->field("strategy", "global | layerwise | random | random-layerwise", [](auto& o) -> auto& { return o.strategy; })
      .default_shown().one_of({"global", "layerwise", "random", "random-layerwise"});
  t->field("rewind", "init (pretrained weights) or a step of level-0 training: 500it, 1ep",
           [](auto& o) -> auto& { return o.rewind; })
      .default_shown();
  t->field("baselines", "Branches beside the trunk: " + prune::baseline_names(","), [](auto& o) -> auto& { return o.baselines; })
      .split_at(',');
  t->field("prune", "Globs of parameters to prune (default: Chen et al.'s set)", [](auto& o) -> auto& { return o.include; })
      .split_at(',');
  t->field("exclude", "Globs of parameters never to prune", [](auto& o) -> auto& { return o.exclude; }).split_at(',');
  t->field("prune_new_params",
           "Also prune matrices of the prunable set that the checkpoint lacks (e.g. a pooler: random, not "
           "pretrained, so magnitude ranking prunes them first); by default they stay dense",
           [](auto& o) -> auto& { return o.prune_new_params; });
  return t;
}

// Keys that do not change what a run computes are left out of its identity.
nlohmann::json non_default(const nlohmann::json& resolved, const nlohmann::json& defaults) {
  // prune_new_params: run_lottery hashes what it changes (lib/lottery/lottery.cpp), only where it changes it.
  nlohmann::json out = nlohmann::json::object();
  for (auto it = resolved.begin(); it != resolved.end(); ++it) {
    if (non_identity_keys().count(it.key()) || it.key() == "prune_new_params") continue;
    auto d = defaults.find(it.key());
    if (d == defaults.end() || *d != it.value()) out[it.key()] = it.value();
  }
  return out;
}

void run_prune(const TrainingConfig& cfg, const ImpOptions& imp_options, const nlohmann::json& defaults) {
  lottery::LotteryConfig lc;
  lc.model = cfg.model;
  lc.task = cfg.task;
  lc.runs_dir = cfg.out;
  lc.train = cfg.train;
  lc.task_options = cfg.task_options;
  lc.imp.levels = imp_options.levels;
  lc.imp.rate = imp_options.rate;
  lc.imp.schedule = prune::parse_schedule(imp_options.schedule);
  lc.imp.target_sparsity = imp_options.target_sparsity;
  lc.imp.strategy = prune::parse_strategy(imp_options.strategy);
  lc.imp.rewind = imp_options.rewind;
  if (lc.imp.rewind != "init") Step::parse(lc.imp.rewind);  // usage error early
  lc.imp.baselines = imp_options.baselines;
  lc.include = imp_options.include;
  lc.exclude = imp_options.exclude;
  lc.imp.prune_new_params = imp_options.prune_new_params;
  prune::pruned_at_level(1, 1, imp_options.rate, lc.imp.schedule);  // validates --rate
  prune::check_baseline_names(imp_options.baselines);
  LTH_CHECK(!cfg.out.empty(), UsageError, "--out is required");
  std::string other;
  LTH_CHECK(!is_run_dir(cfg.out, &other), UsageError,
            "{}/: --out holds an lth {}run; lth prune's --out is a runs directory (each run gets a folder in it)", cfg.out,
            other.empty() ? "" : other + " ");
  lc.resolved = cfg.to_json();
  lc.resolved.update(imp_table()->to_json(imp_options));
  lc.hashed = non_default(lc.resolved, defaults);
  auto result = lottery::run_lottery(lc);
  fmt::print("{}\n{}\n", prune::summary_table(result.summary), result.run_dir);
}

}  // namespace

void add_prune_command(CLI::App& app) {
  auto cfg = std::make_shared<TrainingConfig>();
  auto imp = std::make_shared<ImpOptions>();
  auto* cmd = app.add_subcommand("prune", "Find lottery tickets: iterative magnitude pruning with rewinding (+ baselines)");
  cmd->footer(
      "Level 0 fine-tunes the dense model; each next level prunes the previous level's trained weights "
      "(by magnitude over all prunable matrices at once with --strategy global), rewinds the kept weights to "
      "the pretrained ones (--rewind init) or to a point of level-0 training (--rewind 500it), re-draws the "
      "task head from --seed, and fine-tunes again. Prunable by default: Q, K, V, attention-output, "
      "intermediate and output weights of every layer, and the pooler (Chen et al. 2020), of those the checkpoint "
      "holds (see --prune-new-params). The run directory "
      "(printed last) is named by a hash of the non-default settings; rerunning resumes.");
  const auto table = imp_table();
  auto resolve = add_training_options(*cmd, cfg, true, [table, imp](CLI::App& c) { return bind_options(c, table, imp); });
  // The defaults of the paper's GLUE recipe: lr 2e-5, batch 32, length 128, 3 epochs, seed 57.
  nlohmann::json defaults = cfg->to_json();
  defaults.update(table->to_json(ImpOptions()));
  cmd->callback([cfg, imp, resolve, defaults] {
    if (resolve()) run_prune(*cfg, *imp, defaults);
  });
}

namespace {

struct TransferOptions {
  std::vector<std::string> masks;
  std::vector<std::string> targets;
  bool matrix = false;
};

void run_transfer_command(TrainingConfig cfg, const TransferOptions& t) {
  LTH_CHECK(!t.masks.empty(), UsageError, "--mask is required");
  LTH_CHECK(!cfg.model.empty() && !cfg.out.empty(), UsageError, "--model and --out are required");
  std::vector<std::string> targets = t.targets;
  if (!cfg.task.empty()) targets.insert(targets.begin(), cfg.task);
  LTH_CHECK(!targets.empty(), UsageError, "--task is required");
  if (!t.matrix) {
    LTH_CHECK(t.masks.size() == 1 && targets.size() == 1, UsageError,
              "several masks or tasks need --matrix");
    lottery::TransferConfig tc{t.masks[0], cfg.model, targets[0], cfg.out, cfg.train, cfg.task_options};
    RunDir run(cfg.out, "transfer", lottery::transfer_identity(cfg.to_json(), targets[0], t.masks[0]), cfg.force);
    run.begin();
    write_file_atomic(cfg.out + "/config.json", cfg.to_json().dump(2) + "\n");
    fmt::print("{}\n", lottery::run_transfer(tc).dump());
    return;
  }
  lottery::TransferMatrixConfig mc{t.masks, targets, cfg.model, cfg.out, cfg.train, cfg.task_options, cfg.to_json(),
                                 cfg.force};
  const auto matrix = lottery::run_transfer_matrix(mc);
  fmt::print("{}\n{}\n", report::render_transfer_markdown(matrix), matrix.path);
}

}  // namespace

void add_transfer_command(CLI::App& app) {
  auto cfg = std::make_shared<TrainingConfig>();
  auto t = std::make_shared<TransferOptions>();
  auto* cmd = app.add_subcommand("transfer", "Fine-tune the pretrained weights under a mask found on another task");
  auto resolve = add_training_options(*cmd, cfg);
  cmd->add_option("--mask", t->masks, "mask.safetensors (several with --matrix)");
  cmd->add_option("--target", t->targets, "More target tasks (with --matrix)");
  cmd->add_flag("--matrix", t->matrix, "Every mask x every task: writes transfer-matrix.json and .md in --out");
  cmd->callback([cfg, t, resolve] {
    if (resolve()) run_transfer_command(*cfg, *t);
  });
}

}  // namespace lth::cli
