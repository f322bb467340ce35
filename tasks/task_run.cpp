#include "tasks/task_run.h"

#include <chrono>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/run_identity.h"
#include "model/load.h"
#include "tokenize/tokenizer.h"

namespace lth::tasks {
namespace {

void require(const std::string& value, const char* flag) {
  LTH_CHECK(!value.empty(), UsageError, "{} is required", flag);
}

void write_config(const std::string& out, const nlohmann::json& resolved) {
  write_file_atomic(out + "/config.json", resolved.dump(2) + "\n");
}

// The model pretraining starts from: the checkpoint given, or a new one from a BERT config, whose
// tokenizer (the vocabulary given) is written into `tokenizer_dir`.
model::Bert pretrain_start(const PretrainRun& run, const std::string& tokenizer_dir) {
  if (!run.model.empty()) {
    model::LoadOptions lopts;
    lopts.head = model::HeadKind::kMaskedLM;
    return model::load_pretrained(run.model, lopts);
  }
  make_dirs(tokenizer_dir);
  write_file_atomic(tokenizer_dir + "/vocab.txt", read_file(run.vocab));
  const nlohmann::json tc = {{"do_lower_case", run.lowercase}, {"tokenizer_class", "BertTokenizer"},
                             {"model_max_length", run.task_options.max_length}};
  write_file_atomic(tokenizer_dir + "/tokenizer_config.json", tc.dump(2) + "\n");
  auto config = model::BertConfig::from_file(run.bert_config);
  config.set_head(model::HeadKind::kMaskedLM, 2);
  return model::Bert(config);
}

void check_pretrain_run(const PretrainRun& run) {
  require(run.out, "--out");
  LTH_CHECK(!run.task_options.texts.empty(), UsageError, "--text is required (files or folders of raw text)");
  LTH_CHECK(run.model.empty() != run.bert_config.empty(), UsageError,
            "give exactly one of --model DIR (continue) or --bert-config BERT_CONFIG.json (from scratch)");
  if (!run.model.empty()) {
    LTH_CHECK(run.vocab.empty(), UsageError, "--vocab goes with --bert-config, not with --model");
    return;
  }
  require(run.vocab, "--vocab (with --bert-config)");
  LTH_CHECK(path_exists(run.bert_config), IoError, "{}: no such file (--bert-config)", run.bert_config);
  LTH_CHECK(path_exists(run.vocab), IoError, "{}: no such file (--vocab)", run.vocab);
}

}  // namespace

nlohmann::json run_finetune(const FinetuneRun& run) {
  require(run.model, "--model");
  require(run.task, "--task");
  require(run.out, "--out");
  if (run.task != "mlm" && run.task_options.train_file.empty()) require(run.task_options.data, "--data");
  // Checked before anything is loaded: --out is new, empty, or this same run (resume / skip).
  RunDir dir(run.out, "finetune", identity_of(run.resolved), run.force);
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(run.model);
  TaskOptions topts = run.task_options;
  topts.max_length = model::fit_max_length(run.model, topts.max_length);
  auto task = make_task(run.task, topts, tok);
  torch::manual_seed(run.train.seed);
  model::LoadOptions lopts;
  lopts.head = task->head();
  if (!task->labels().empty()) lopts.labels = task->labels();
  model::Bert bert = model::load_pretrained(run.model, lopts);
  const auto features = task->train_features(run.train.seed);
  dir.begin();
  write_config(run.out, run.resolved);
  log::info("finetune", "{} on {}: {} training examples, {} -> {}", run.model, run.task, features.size(),
            run.train.length, run.out);
  auto result = train::train(bert, features, task->label_kind(), tok->pad_id(), run.train,
                             task_hooks(*task, run.train.seed), run.out, run.model);
  if (!result.skipped) {
    log::info("finetune", "{} steps in {:.1f}s ({:.1f} examples/s)", result.steps, result.seconds,
              result.examples_per_second);
  }
  return result.final_metrics;
}

nlohmann::json run_pretrain(const PretrainRun& run) {
  check_pretrain_run(run);
  nlohmann::json identity = identity_of(run.resolved);
  identity["bert_config"] = run.bert_config;
  identity["vocab"] = run.vocab;
  identity["lowercase"] = run.lowercase;
  RunDir dir(run.out, "pretrain", identity, run.force);
  dir.begin();
  const std::string tokenizer_dir = run.model.empty() ? run.out + "/tokenizer" : run.model;
  torch::manual_seed(run.train.seed);
  model::Bert bert = pretrain_start(run, tokenizer_dir);
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(tokenizer_dir);
  LTH_CHECK(tok->vocab_size() == bert->config().vocab_size, ConfigError,
            "the vocabulary has {} entries but the model's vocab_size is {}", tok->vocab_size(), bert->config().vocab_size);
  auto task = make_task("mlm", run.task_options, tok);
  const auto features = task->train_features(run.train.seed);
  write_config(run.out, run.resolved);
  auto result = train::train(bert, features, task->label_kind(), tok->pad_id(), run.train,
                             task_hooks(*task, run.train.seed), run.out, tokenizer_dir);
  if (!result.skipped) {
    log::info("pretrain", "{} steps in {:.1f}s; model in {}/model", result.steps, result.seconds, run.out);
  }
  return result.final_metrics;
}

nlohmann::json run_eval(const EvalRun& run) {
  TaskOptions topts;
  topts.data = run.data;
  topts.texts = run.texts;
  topts.max_length = model::fit_max_length(run.model, run.max_length);
  topts.eval_batch_size = run.batch_size;
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(run.model);
  auto task = make_task(run.task, topts, tok);
  model::LoadOptions lopts;
  lopts.head = task->head();
  model::LoadReport report;
  model::Bert bert = model::load_pretrained(run.model, lopts, &report);
  if (!report.new_parameters.empty()) {
    log::warn("eval", "{} has no trained {} head: scores come from a randomly initialised head", run.model,
              model::head_name(task->head()));
  }
  if (task->head() != model::HeadKind::kMaskedLM && !task->labels().empty() &&
      bert->config().num_labels() != static_cast<int64_t>(task->labels().size())) {
    LTH_FAIL(Error, "{}: the head has {} labels, {} has {}", run.model, bert->config().num_labels(), run.task,
             task->labels().size());
  }
  bert->to(torch::Device(run.device));
  bert->eval();
  train::EvalContext context;
  context.precision = run.precision;
  context.device = run.device;
  const std::string split = run.split.empty() ? task->default_eval_split() : run.split;
  const auto start = std::chrono::steady_clock::now();
  nlohmann::json metrics = task->evaluate(bert, split, run.predictions, context);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Reading, tokenising, the forward passes and the metric: what a user waits for.
  if (metrics.contains("examples") && metrics["examples"].is_number() && seconds > 0) {
    const double n = metrics["examples"].get<double>();
    log::info("eval", "{} examples in {:.2f}s ({:.1f} examples/s, reading and tokenising included)", n, seconds,
              n / seconds);
  }
  return metrics;
}

}  // namespace lth::tasks
