// The fine-tuning loop: AdamW (no decay on biases/LayerNorm), linear warmup and decay, gradient
// clipping and accumulation, seeded length-grouped batches, evaluation during training, best/last
// checkpoints in HF format, exact resume after a kill, SIGINT/SIGTERM -> checkpoint and exit, and
// masks kept exact (pruned weights are exactly 0 after every step), data parallelism and --profile.
// It trains a train::Trainee (train/trainee.h): the plain BERT, or lth mux's multiplexed one, whose
// warm-up and task phases are each one run of this loop. Its pieces: the schedule
// (train/schedule.h), the optimizer step with masks and precision (train/step.h), the run
// directory's files (train/run_writer.h) and the resume checkpoint (train/checkpoint.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/bert.h"
#include "prune/mask.h"
#include "train/data.h"
#include "train/eval_context.h"

namespace lth::train {

class Dist;     // train/dist.h
class Trainee;  // train/trainee.h

struct TrainConfig {
  std::string length = "3ep";     // Step: total training length
  double lr = 2e-5;
  int64_t batch_size = 32;
  std::string warmup = "0it";     // Step: linear warmup
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;     // <= 0: no clipping
  int64_t grad_accum = 1;
  uint64_t seed = 57;
  std::string eval_every;         // Step; empty = at the end of every epoch
  std::string save_every = "500it";  // resume checkpoint interval (also written on SIGINT/SIGTERM)
  std::string precision = "fp32";    // fp32 | bf16 (autocast on CPU, fp32 master weights)
  bool group_by_length = true;
  int64_t pad_to = 0;             // > 0: pad every batch to this length (classic behaviour)
  bool save_models = true;        // write model/ (last) and best/ in HF format
  std::string device = "cpu";
  bool progress = true;
  bool profile = false;           // log where training time went (data, forward, backward, optimizer, eval)
  std::string profile_ops;        // non-empty: write the training steps' per-operator times there (Markdown)
  // The word embeddings get sparse row gradients and AdamW's lazy rows (train/adamw.h): the same
  // update, without reading and writing all 30522 rows every step. On one CPU process only, and not
  // for a tied MLM decoder or a mask over the embeddings; false: the dense update (for comparisons).
  bool lazy_embedding_rows = true;
  // Sparse training of a masked run on the CPU (ops/sparse_train.h): "auto" runs each masked encoder
  // Linear sparse whose density is below the measured training crossover, "on" every masked one,
  // "off" none (the dense masked path). The results agree within fp32 rounding.
  std::string sparse_training = "auto";
  // Keep checkpoint/ when done, holding the final weights and generator states (no optimizer
  // moments), for a run that continues from them after a restart (train::load_final_state; lth
  // mux's task phase after its warm-up).
  bool keep_final_state = false;
  // Data parallelism (null: one process). With a group, batch_size is per rank: each global batch
  // of batch_size x world examples is split over the ranks, and only rank 0 writes files.
  std::shared_ptr<Dist> dist;
};

struct Hooks {
  // Evaluates the model with the loop's context (its data-parallel group, if any); returns metrics
  // (numbers). `main_metric` names the one that picks "best".
  std::function<nlohmann::json(model::Bert&, const EvalContext&)> evaluate;
  std::string main_metric;
  // Changes a batch before the forward pass (MLM masking). `step` is the optimizer step about to run.
  std::function<void(Batch&, int64_t step)> transform_batch;
  // Called after each optimizer step with the number of steps done (rewind snapshots).
  std::function<void(int64_t steps_done, model::Bert&)> after_step;
  // Parameters to keep exactly zero where the mask is 0.
  const prune::Mask* masks = nullptr;
};

struct TrainResult {
  nlohmann::json final_metrics = nlohmann::json::object();
  nlohmann::json best_metrics = nlohmann::json::object();
  int64_t steps = 0;
  double seconds = 0.0;
  double examples_per_second = 0.0;
  bool skipped = false;  // result.json existed: nothing was run
};

// The result of a finished run as its result.json `saved` holds it ("final", "best", "steps"),
// marked skipped; logs under `tag` that `path` exists and nothing is run.
TrainResult finished_result(const nlohmann::json& saved, const std::string& path, const char* tag);

// Trains in place. `run_dir` receives metrics.jsonl, checkpoint/ (while running), model/ and best/
// (HF format, when save_models) and result.json (written last: its presence means done, and a
// repeated call returns it without training). `tokenizer_dir` is copied into saved models.
TrainResult train(model::Bert& model, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id,
                  const TrainConfig& config, const Hooks& hooks, const std::string& run_dir,
                  const std::string& tokenizer_dir = "");
// The same loop for any trainee (the one above trains a BertTrainee): its loss, parameters, saved
// models and result.json fields. The hooks receive trainee.bert().
TrainResult train(Trainee& trainee, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id,
                  const TrainConfig& config, const Hooks& hooks, const std::string& run_dir,
                  const std::string& tokenizer_dir = "");

// result.json of the finished run in `run_dir` (rank 0's, on every rank with `dist`), if there is one.
std::optional<nlohmann::json> read_finished(const std::string& run_dir, Dist* dist);

// Thrown when SIGINT/SIGTERM stopped training after a checkpoint was written.
class Interrupted : public Error {
 public:
  using Error::Error;
};

}  // namespace lth::train
