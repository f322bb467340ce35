// A task turns files into training features and evaluates a model on a split with the task's
// official metrics. Registered by name: "glue/sst2", ..., "mlm".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/bert.h"
#include "tokenize/tokenizer.h"
#include "train/data.h"
#include "train/eval_context.h"
#include "train/trainer.h"

namespace lth::tasks {

struct TaskOptions {
  std::string data;                 // data directory (GLUE task folder or root) or text paths for MLM
  std::vector<std::string> texts;   // MLM: files or folders of raw text
  std::string train_file, dev_file;  // override the files the task would pick
  int64_t max_length = 128;
  double mlm_probability = 0.15;
  bool whole_word_masking = false;
  int64_t max_train_examples = 0;   // > 0: use only the first N training examples (after a seeded shuffle)
  int64_t eval_batch_size = 128;
  // Extractive QA (SQuAD), as Hugging Face's run_qa: windows over the context overlap by
  // `doc_stride` tokens, questions are cut to `max_query_length` tokens; decoding keeps the
  // `n_best_size` best starts/ends and spans of at most `max_answer_length` tokens. The recipe
  // uses --max-length 384.
  int64_t doc_stride = 128;
  int64_t max_query_length = 64;
  int64_t n_best_size = 20;
  int64_t max_answer_length = 30;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual model::HeadKind head() const = 0;
  virtual std::vector<std::string> labels() const { return {}; }
  virtual train::LabelKind label_kind() const = 0;
  virtual std::string main_metric() const = 0;
  virtual std::string default_eval_split() const { return "dev"; }
  // `seed` draws the --max-train-examples subsample (the training run's seed).
  virtual std::vector<train::Feature> train_features(uint64_t seed) = 0;
  // Metrics as one JSON object: task, split, examples and every metric the task has.
  // Writes predictions in the task's official format when `predictions_path` is non-empty.
  // `context` says which forward pass to run and over which ranks (see train/eval_context.h).
  virtual nlohmann::json evaluate(model::Bert& model, const std::string& split, const std::string& predictions_path,
                                  const train::EvalContext& context) = 0;
  // Changes training batches before the forward pass (MLM masking, drawn from `seed` and the step);
  // null when none.
  virtual std::function<void(train::Batch&, int64_t)> batch_transform(uint64_t /*seed*/) { return nullptr; }
};

// Training hooks for a task: evaluation on its default dev split (with the loop's context), its
// main metric, its batch transform (MLM masking, from `seed`). `task` must outlive the hooks.
train::Hooks task_hooks(Task& task, uint64_t seed);

std::unique_ptr<Task> make_task(const std::string& name, const TaskOptions& options,
                                std::shared_ptr<const tokenize::Tokenizer> tokenizer);
std::vector<std::string> task_names();

// Runs the model over features in length-sorted batches; returns per-feature outputs in feature order
// via `consume(batch, outputs)`, at `context.precision` on `context.device`. Each batch goes through
// `context.forward` (the model's own when empty); with `context.dist`, each rank runs some batches
// and every rank consumes all of them.
void predict(model::Bert& model, const train::EvalContext& context, const std::vector<train::Feature>& features,
             train::LabelKind kind, int64_t pad_id, int64_t batch_size,
             const std::function<void(const train::Batch&, const model::BertOutputs&)>& consume);

}  // namespace lth::tasks
