// The runs behind lth finetune, lth pretrain and lth eval: a task, a checkpoint and the trainer (or
// one evaluation), with the run directory's identity check, config.json and the printed metrics.
// The verbs in cli/train_commands.cpp parse flags into these and print what they return.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/task.h"
#include "train/trainer.h"

namespace lth::tasks {

struct FinetuneRun {
  std::string model, task, out;
  train::TrainConfig train;  // precision and device resolved
  TaskOptions task_options;
  nlohmann::json resolved;   // the config as config.json and the run identity hold it
  bool force = false;        // replace a run with other settings in `out`
};

// Fine-tunes `model` on `task` into the run directory `out`; returns the final metrics.
nlohmann::json run_finetune(const FinetuneRun& run);

struct PretrainRun {
  std::string model;        // continue from this checkpoint, or
  std::string bert_config;  // from scratch: this BERT config.json ...
  std::string vocab;        // ... and this WordPiece vocab.txt
  bool lowercase = true;    // the new tokenizer's do_lower_case
  std::string out;
  train::TrainConfig train;
  TaskOptions task_options;  // its texts are the corpus
  nlohmann::json resolved;
  bool force = false;
};

// Masked-LM pretraining into `out` (model/, tokenizer/ for a model from scratch); returns the final metrics.
nlohmann::json run_pretrain(const PretrainRun& run);

struct EvalRun {
  std::string model, task, data, split, predictions;  // split empty: the task's dev split
  std::vector<std::string> texts;                     // mlm
  int64_t max_length = 128;                           // cut to what the checkpoint holds
  int64_t batch_size = 128;
  std::string precision = "fp32";  // resolved: fp32 or bf16
  std::string device = "cpu";
};

// The task's metrics on one split as one JSON object (and predictions when asked for).
nlohmann::json run_eval(const EvalRun& run);

}  // namespace lth::tasks
