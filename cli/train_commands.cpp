// lth finetune / eval / pretrain: flags into tasks::FinetuneRun / PretrainRun / EvalRun, one call, the metrics printed.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/train_options.h"
#include "core/runtime.h"
#include "tasks/task_run.h"

namespace lth::cli {
namespace {

void print_metrics(const nlohmann::json& metrics) { fmt::print("{}\n", metrics.dump()); }

void run_finetune(const TrainingConfig& cfg) {
  print_metrics(tasks::run_finetune({cfg.model, cfg.task, cfg.out, cfg.train, cfg.task_options, cfg.to_json(), cfg.force}));
}

struct EvalConfig {
  tasks::EvalRun run;
  EvalRuntimeOptions runtime;
};

void run_eval(EvalConfig cfg) {
  apply_eval_runtime_options(cfg.runtime, cfg.run.device, cfg.run.precision);
  print_metrics(tasks::run_eval(cfg.run));
}

struct PretrainOptions {
  std::string bert_config, vocab;
  bool lowercase = true;
};

void run_pretrain(const TrainingConfig& cfg, const PretrainOptions& p) {
  print_metrics(tasks::run_pretrain({cfg.model, p.bert_config, p.vocab, p.lowercase, cfg.out, cfg.train, cfg.task_options,
                                     cfg.to_json(), cfg.force}));
}

}  // namespace

void add_finetune_command(CLI::App& app) {
  auto cfg = std::make_shared<TrainingConfig>();
  auto* cmd = app.add_subcommand("finetune", "Fine-tune a checkpoint on a task; writes metrics.jsonl, model/, best/");
  auto resolve = add_training_options(*cmd, cfg);
  cmd->callback([cfg, resolve] {
    if (resolve()) run_finetune(*cfg);
  });
}

void add_eval_command(CLI::App& app) {
  auto cfg = std::make_shared<EvalConfig>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on a task split; prints one JSON line of metrics");
  cmd->add_option("--model", cfg->run.model, "Hugging Face checkpoint directory")->required();
  cmd->add_option("--task", cfg->run.task, "Task name (see lth finetune --help)")->required();
  cmd->add_option("--data", cfg->run.data, "Data directory");
  cmd->add_option("--text", cfg->run.texts, "Raw text (mlm)");
  cmd->add_option("--split", cfg->run.split, "Split: dev, test, dev_matched, ... (default: the task's dev split)");
  cmd->add_option("--predictions", cfg->run.predictions, "Write predictions (GLUE: index<TAB>prediction TSV)");
  add_number(*cmd, "--max-length", cfg->run.max_length, "Maximum sequence length", count(2, 1 << 20))->capture_default_str();
  add_number(*cmd, "--batch-size", cfg->run.batch_size, "Evaluation batch size", count(1, 1 << 16))->capture_default_str();
  add_eval_runtime_options(*cmd, cfg->runtime);
  cmd->callback([cfg] { run_eval(*cfg); });
}

void add_pretrain_command(CLI::App& app) {
  auto cfg = std::make_shared<TrainingConfig>();
  cfg->train.lr = 1e-4;
  cfg->train.weight_decay = 0.01;
  cfg->train.length = "1ep";
  cfg->train.save_every = "200it";
  auto p = std::make_shared<PretrainOptions>();
  auto* cmd = app.add_subcommand("pretrain", "Masked-LM pretraining from scratch (--bert-config + --vocab) or continued (--model)");
  auto resolve = add_training_options(*cmd, cfg, /*with_task=*/false);
  cmd->add_option("--bert-config", p->bert_config, "BERT config.json for a model trained from scratch");
  cmd->add_option("--vocab", p->vocab, "WordPiece vocab.txt for a model trained from scratch");
  cmd->add_flag("--lowercase,!--no-lowercase", p->lowercase, "Lower-case text (uncased vocabulary)")->capture_default_str();
  cmd->callback([cfg, resolve, p] {
    if (resolve()) run_pretrain(*cfg, *p);
  });
}

}  // namespace lth::cli
