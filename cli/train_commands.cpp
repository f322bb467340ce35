// lth finetune / eval / pretrain: thin wrappers that build typed configs and call the library.
#include <chrono>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/run_identity.h"
#include "cli/train_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/runtime.h"
#include "io/checkpoint.h"
#include "model/load.h"
#include "tasks/task.h"
#include "tokenize/tokenizer.h"

namespace lth::cli {
namespace fs = std::filesystem;
namespace {

void require(const std::string& value, const char* flag) {
  LTH_CHECK(!value.empty(), UsageError, "{} is required", flag);
}

void print_metrics(const nlohmann::json& metrics) { fmt::print("{}\n", metrics.dump()); }



void run_finetune(const TrainingConfig& cfg) {
  require(cfg.model, "--model");
  require(cfg.task, "--task");
  require(cfg.out, "--out");
  if (cfg.task != "mlm") require(cfg.task_options.data.empty() && !cfg.task_options.train_file.empty() ? "x" : cfg.task_options.data, "--data");
  // Checked before anything is loaded: --out is new, empty, or this same run (resume / skip).
  RunDir run(cfg.out, "finetune", identity_of(cfg.to_json()), cfg.force);
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(cfg.model);
  tasks::TaskOptions topts = cfg.task_options;
  topts.max_length = model::fit_max_length(cfg.model, topts.max_length);
  auto task = tasks::make_task(cfg.task, topts, tok);
  torch::manual_seed(cfg.train.seed);
  model::LoadOptions lopts;
  lopts.head = task->head();
  if (!task->labels().empty()) lopts.labels = task->labels();
  model::Bert bert = model::load_pretrained(cfg.model, lopts);
  const auto features = task->train_features();
  run.begin();
  write_file_atomic(cfg.out + "/config.json", cfg.to_json().dump(2) + "\n");
  log::info("finetune", "{} on {}: {} training examples, {} -> {}", cfg.model, cfg.task, features.size(),
            cfg.train.length, cfg.out);
  auto result = train::train(bert, features, task->label_kind(), tok->pad_id(), cfg.train, tasks::task_hooks(*task), cfg.out,
                             cfg.model);
  if (!result.skipped) {
    log::info("finetune", "{} steps in {:.1f}s ({:.1f} examples/s)", result.steps, result.seconds,
              result.examples_per_second);
  }
  print_metrics(result.final_metrics);
}

struct EvalConfig {
  std::string model, task, data, split, predictions, text_override;
  std::vector<std::string> texts;
  int64_t max_length = 128;
  int64_t batch_size = 128;
  std::string precision = "auto";
  RuntimeOptions runtime;
};

void run_eval(const EvalConfig& cfg) {
  tasks::TaskOptions topts;
  topts.data = cfg.data;
  topts.texts = cfg.texts;
  topts.max_length = model::fit_max_length(cfg.model, cfg.max_length);
  topts.eval_batch_size = cfg.batch_size;
  topts.device = apply_runtime_options(cfg.runtime);
  topts.precision = resolve_precision(cfg.precision, topts.device);
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(cfg.model);
  auto task = tasks::make_task(cfg.task, topts, tok);
  model::LoadOptions lopts;
  lopts.head = task->head();
  model::LoadReport report;
  model::Bert bert = model::load_pretrained(cfg.model, lopts, &report);
  if (!report.new_parameters.empty()) {
    log::warn("eval", "{} has no trained {} head: scores come from a randomly initialised head", cfg.model,
              model::head_name(task->head()));
  }
  if (task->head() != model::HeadKind::kMaskedLM && !task->labels().empty() &&
      bert->config().num_labels() != static_cast<int64_t>(task->labels().size())) {
    LTH_FAIL(Error, "{}: the head has {} labels, {} has {}", cfg.model, bert->config().num_labels(), cfg.task,
             task->labels().size());
  }
  bert->to(torch::Device(topts.device));
  bert->eval();
  const std::string split = cfg.split.empty() ? task->default_eval_split() : cfg.split;
  const auto start = std::chrono::steady_clock::now();
  nlohmann::json metrics = task->evaluate(bert, split, cfg.predictions, {});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Reading, tokenising, the forward passes and the metric: what a user waits for.
  if (metrics.contains("examples") && metrics["examples"].is_number() && seconds > 0) {
    const double n = metrics["examples"].get<double>();
    log::info("eval", "{} examples in {:.2f}s ({:.1f} examples/s, reading and tokenising included)", n, seconds, n / seconds);
  }
  print_metrics(metrics);
}

void run_pretrain(TrainingConfig cfg, const std::string& bert_config, const std::string& vocab, bool lowercase) {
  require(cfg.out, "--out");
  LTH_CHECK(!cfg.task_options.texts.empty(), UsageError, "--text is required (files or folders of raw text)");
  LTH_CHECK(cfg.model.empty() != bert_config.empty(), UsageError,
            "give exactly one of --model DIR (continue) or --bert-config BERT_CONFIG.json (from scratch)");
  if (!cfg.model.empty()) {
    LTH_CHECK(bert_config.empty() && vocab.empty(), UsageError, "--vocab goes with --bert-config, not with --model");
  } else {
    require(vocab, "--vocab (with --bert-config)");
    LTH_CHECK(path_exists(bert_config), IoError, "{}: no such file (--bert-config)", bert_config);
    LTH_CHECK(path_exists(vocab), IoError, "{}: no such file (--vocab)", vocab);
  }
  nlohmann::json identity = identity_of(cfg.to_json());
  identity["bert_config"] = bert_config;
  identity["vocab"] = vocab;
  identity["lowercase"] = lowercase;
  RunDir run(cfg.out, "pretrain", identity, cfg.force);
  run.begin();
  std::string tokenizer_dir = cfg.model;
  torch::manual_seed(cfg.train.seed);
  model::Bert bert{nullptr};
  if (!cfg.model.empty()) {
    model::LoadOptions lopts;
    lopts.head = model::HeadKind::kMaskedLM;
    bert = model::load_pretrained(cfg.model, lopts);
  } else {
    require(vocab, "--vocab (with --bert-config)");
    tokenizer_dir = cfg.out + "/tokenizer";
    make_dirs(tokenizer_dir);
    write_file_atomic(tokenizer_dir + "/vocab.txt", read_file(vocab));
    nlohmann::json tc = {{"do_lower_case", lowercase}, {"tokenizer_class", "BertTokenizer"},
                         {"model_max_length", cfg.task_options.max_length}};
    write_file_atomic(tokenizer_dir + "/tokenizer_config.json", tc.dump(2) + "\n");
    auto config = model::BertConfig::from_file(bert_config);
    config.set_head(model::HeadKind::kMaskedLM, 2);
    bert = model::Bert(config);
  }
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(tokenizer_dir);
  LTH_CHECK(tok->vocab_size() == bert->config().vocab_size, ConfigError,
            "the vocabulary has {} entries but the model's vocab_size is {}", tok->vocab_size(), bert->config().vocab_size);
  auto task = tasks::make_task("mlm", cfg.task_options, tok);
  const auto features = task->train_features();
  write_file_atomic(cfg.out + "/config.json", cfg.to_json().dump(2) + "\n");
  auto result = train::train(bert, features, task->label_kind(), tok->pad_id(), cfg.train, tasks::task_hooks(*task), cfg.out,
                             tokenizer_dir);
  if (!result.skipped) {
    log::info("pretrain", "{} steps in {:.1f}s; model in {}/model", result.steps, result.seconds, cfg.out);
  }
  print_metrics(result.final_metrics);
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
  cmd->add_option("--model", cfg->model, "Hugging Face checkpoint directory")->required();
  cmd->add_option("--task", cfg->task, "Task name (see lth finetune --help)")->required();
  cmd->add_option("--data", cfg->data, "Data directory");
  cmd->add_option("--text", cfg->texts, "Raw text (mlm)");
  cmd->add_option("--split", cfg->split, "Split: dev, test, dev_matched, ... (default: the task's dev split)");
  cmd->add_option("--predictions", cfg->predictions, "Write predictions (GLUE: index<TAB>prediction TSV)");
  add_number(*cmd, "--max-length", cfg->max_length, "Maximum sequence length", count(2, 1 << 20))->capture_default_str();
  add_number(*cmd, "--batch-size", cfg->batch_size, "Evaluation batch size", count(1, 1 << 16))->capture_default_str();
  cmd->add_option("--precision", cfg->precision, "auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  add_runtime_options(*cmd, cfg->runtime);
  cmd->callback([cfg] { run_eval(*cfg); });
}

void add_pretrain_command(CLI::App& app) {
  auto cfg = std::make_shared<TrainingConfig>();
  cfg->train.lr = 1e-4;
  cfg->train.weight_decay = 0.01;
  cfg->train.length = "1ep";
  cfg->train.save_every = "200it";
  auto bert_config = std::make_shared<std::string>();
  auto vocab = std::make_shared<std::string>();
  auto lowercase = std::make_shared<bool>(true);
  auto* cmd = app.add_subcommand("pretrain", "Masked-LM pretraining from scratch (--bert-config + --vocab) or continued (--model)");
  auto resolve = add_training_options(*cmd, cfg, /*with_task=*/false);
  cmd->add_option("--bert-config", *bert_config, "BERT config.json for a model trained from scratch");
  cmd->add_option("--vocab", *vocab, "WordPiece vocab.txt for a model trained from scratch");
  cmd->add_flag("--lowercase,!--no-lowercase", *lowercase, "Lower-case text (uncased vocabulary)")->capture_default_str();
  cmd->callback([cfg, resolve, bert_config, vocab, lowercase] {
    if (resolve()) run_pretrain(*cfg, *bert_config, *vocab, *lowercase);
  });
}

}  // namespace lth::cli
