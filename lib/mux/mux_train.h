// Training and inference of a MuxBert: a retrieval warm-up on raw text (retrieval loss alone), then
// task fine-tuning with task_weight·task + retrieval_weight·retrieval (0.9 / 0.1 as DataMUX). Each
// phase is one run of the one training loop (train::train, with the MuxBert behind a
// train::Trainee), so both resume exactly after a kill, checkpoint on SIGINT/SIGTERM, train data
// parallel and profile as lth finetune does. Consecutive rows of a batch form the groups of N; a
// batch whose size is not a multiple of N is completed with duplicates of its own rows (training:
// they simply count twice; inference: their outputs are dropped, so every example is predicted
// exactly once).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mux/mux_model.h"
#include "train/data.h"
#include "train/trainer.h"

namespace lth::mux {

struct MuxTrainConfig {
  // The task phase's settings, all of them (length, lr, warmup, batch_size, grad_accum, seed,
  // eval_every, save_every, precision, dist, profile, ...). The warm-up runs with the same ones
  // except: length warmup_steps, lr warmup_lr with a linear warm-up over min(warmup_steps / 10,
  // 1000) steps, batch_size warmup_batch_size, batches drawn with seed + 7717, evaluated every
  // warmup_eval_every and at its end (retrieval accuracy), no saved models.
  train::TrainConfig train;
  int64_t warmup_steps = 0;   // retrieval warm-up optimizer steps (0 = none)
  double warmup_lr = 1e-4;    // warm-up peak LR (linear warm-up, then linear decay to 0 over the warm-up)
  int64_t warmup_batch_size = 0;  // 0 = train.batch_size
  std::string warmup_eval_every;  // retrieval on held-out text every this step ("500it"; "" = ten times, "0it" = at the end)
  double task_weight = 0.9;
  double retrieval_weight = 0.1;
  double retrieval_fraction = 1.0;  // share of positions the retrieval loss scores in training (1 = all)
};

struct MuxTrainHooks {
  // Evaluates the model on the task (metrics as numbers); `main_metric` picks "best".
  std::function<nlohmann::json(MuxBert&)> evaluate;
  std::string main_metric;
  // Parameters of the BERT (HF names) kept exactly zero where the mask is 0.
  const prune::Mask* masks = nullptr;
  // Called after each optimizer step of a phase ("warmup" | "task") with the phase's steps done.
  std::function<void(const std::string& phase, int64_t steps_done)> after_step;
};

// A task run's result (steps: task steps) and the warm-up's.
struct MuxTrainResult : train::TrainResult {
  nlohmann::json warmup_metrics = nlohmann::json::object();  // retrieval accuracy after warm-up
};

// Trains in place. `warmup_text` (features of raw text, e.g. the MLM task's, labels unused) feeds the
// warm-up, `warmup_dev` measures its retrieval accuracy; `task_data` may be empty (warm-up only).
// The warm-up is a training run in `run_dir`/warmup (metrics.jsonl, result.json, and checkpoint/
// kept when done: its final weights and generator states, from which the task phase starts after
// a restart); the task phase is the training run in `run_dir` itself: metrics.jsonl (train lines
// and eval lines with "phase"), checkpoint/ while running, model/ (last) and best/ as save_mux
// writes them, and result.json written last with the warm-up's metrics (a repeated call returns
// it). Running the same call again after a kill resumes where the run stopped.
MuxTrainResult train_mux(MuxBert& model, const std::vector<train::Feature>& warmup_text,
                         const std::vector<train::Feature>& warmup_dev, const std::vector<train::Feature>& task_data,
                         train::LabelKind kind, int64_t pad_id, const MuxTrainConfig& config, const MuxTrainHooks& hooks,
                         const std::string& run_dir, const std::string& tokenizer_dir = "");

struct PredictStats {
  int64_t examples = 0;            // predicted rows (= features.size())
  int64_t forward_rows = 0;        // rows run, duplicates included
  int64_t retrieval_correct = 0;
  int64_t retrieval_counted = 0;
  // Predictions naming the token of any instance of the group at the position (the right one or
  // another's): what a model that mixes but cannot tell the instances apart scores.
  int64_t retrieval_any_instance = 0;
  // How often each target token occurs among the scored positions: the unigram baseline is the
  // share of the most frequent one (what always guessing that token scores).
  std::map<int64_t, int64_t> retrieval_target_counts;

  double retrieval_accuracy() const { return share(retrieval_correct); }
  double retrieval_any_instance_accuracy() const { return share(retrieval_any_instance); }
  double retrieval_unigram_accuracy() const;
  // {"retrieval_accuracy", "retrieval_any_instance_accuracy", "retrieval_unigram_accuracy"}.
  nlohmann::json retrieval_json() const;

 private:
  double share(int64_t k) const {
    return retrieval_counted > 0 ? static_cast<double>(k) / static_cast<double>(retrieval_counted) : 0.0;
  }
};

// Runs the model over every feature exactly once, in groups of N (batches of `batch_size` rounded up
// to a multiple of N; the last incomplete group padded with duplicates whose outputs are dropped).
// `consume(indices, outputs)` gets the feature indices of the real rows and their task outputs
// (logits rows in the same order). With `retrieval`, retrieval accuracy is measured too, with a
// fixed seed, on real rows only.
PredictStats predict_mux(MuxBert& model, const std::vector<train::Feature>& features, int64_t pad_id,
                         int64_t batch_size, const std::string& precision, const std::string& device, bool retrieval,
                         const std::function<void(const std::vector<int64_t>&, const model::BertOutputs&)>& consume,
                         bool all_positions = false);

// One multiplexed forward pass over a collated batch of any size (no grad; the caller sets eval
// mode and precision): rows are padded to a multiple of N with copies of the last row, and only
// the real rows' task outputs are returned, in batch order, as the plain model would give them.
// `all_positions` demultiplexes every position (token classification).
model::BertOutputs forward_rows(MuxBert& model, const train::Batch& batch, const c10::Device& device, bool all_positions);

// Batch indices padded to a multiple of `n` with copies of the last index; returns the real count.
size_t pad_to_groups(std::vector<int64_t>& indices, int64_t n);

}  // namespace lth::mux
