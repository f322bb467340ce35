#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>

#include <torch/torch.h>

#include "core/file.h"
#include "core/log.h"
#include "core/progress.h"
#include "model/sparse.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/op_profile.h"
#include "train/run_writer.h"
#include "train/schedule.h"
#include "train/step.h"
#include "train/trainee.h"

namespace lth::train {
namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

// Wall time per training phase, for --profile: each mark() charges the time since the previous
// mark to one phase. CPU ops are synchronous, so the split is exact there; on CUDA it shows where
// the host waits.
class PhaseClock {
 public:
  enum Phase { kData, kForward, kBackward, kClip, kOptimizer, kEval, kCheckpoint, kCount };

  void mark(Phase phase) {
    const auto now = std::chrono::steady_clock::now();
    seconds_[phase] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }
  void restart() { last_ = std::chrono::steady_clock::now(); }

  void log(int64_t steps) const {
    static const char* const kNames[kCount] = {"data", "forward", "backward", "clip+mask grads", "optimizer+mask",
                                               "eval", "checkpoint"};
    double total = 0.0;
    for (double s : seconds_) total += s;
    if (total <= 0.0 || steps <= 0) return;
    std::string line;
    for (int i = 0; i < kCount; ++i) {
      line += fmt::format("{}{} {:.1f}% ({:.2f} ms/step)", i ? ", " : "", kNames[i], 100.0 * seconds_[i] / total,
                          1e3 * seconds_[i] / static_cast<double>(steps));
    }
    log::info("profile", "{} steps, {:.2f}s: {}", steps, total, line);
  }

 private:
  double seconds_[kCount] = {};
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Installs SIGINT/SIGTERM handlers for the lifetime of the object.
class SignalGuard {
 public:
  SignalGuard() {
    g_signal = 0;
    old_int_ = std::signal(SIGINT, on_signal);
    old_term_ = std::signal(SIGTERM, on_signal);
  }
  ~SignalGuard() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  using Handler = void (*)(int);
  Handler old_int_, old_term_;
};

using Batches = std::vector<std::vector<int64_t>>;

// One training run from its setup (optimizer, masks on the device, resume state) to its result: the
// loop over epochs and steps, evaluation, checkpoints and the files of the run directory.
class Loop {
 public:
  Loop(Trainee& trainee, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id, const TrainConfig& cfg,
       const Hooks& hooks, const RunWriter& writer, const std::string& tokenizer_dir, const Schedule& schedule);

  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Loads the resume checkpoint (rank 0's, on every rank) and starts metrics.jsonl.
  void resume();
  TrainResult run();

 private:
  void use_lazy_rows();
  void accumulate(const std::vector<int64_t>& indices, double& step_loss);
  bool step(const Batches& batches, int64_t s);
  void after_step(bool stop);
  void report_train();
  void evaluate();
  void checkpoint(bool final = false);
  TrainResult finish(std::chrono::steady_clock::time_point start, double comm_before);

  Trainee& trainee_;
  model::Bert& model_;  // the trainee's BERT (masks, hooks)
  const NamedTensorList params_, state_;
  std::vector<at::Tensor> tensors_;  // params_' tensors: clipped, averaged over ranks
  const std::vector<Feature>& data_;
  const LabelKind kind_;
  const int64_t pad_id_;
  const TrainConfig& cfg_;
  const Hooks& hooks_;
  const RunWriter& writer_;
  const std::string& tokenizer_dir_;
  const Schedule schedule_;
  Dist* const dist_;
  const torch::Device device_;
  const nlohmann::json identity_;
  AdamW optimizer_;
  const prune::NamedTensors masks_;
  Checkpoint ckpt_;
  TrainResult result_;
  PhaseClock clock_;
  std::unique_ptr<OpProfile> ops_;  // --profile-ops: the steps (and evaluations between them), not the final evaluation
  Progress* progress_ = nullptr;  // while run() is running
  int64_t steps_ = 0, start_steps_ = 0, examples_ = 0;
  double running_loss_ = 0.0;
  int64_t running_count_ = 0;
};

AdamW make_optimizer(Trainee& trainee, const NamedTensorList& params, const TrainConfig& cfg) {
  AdamWOptions adam;
  adam.lr = cfg.lr;
  adam.weight_decay = cfg.weight_decay;
  return AdamW(params, adam, [&trainee](const std::string& name) { return trainee.decays(name); });
}

std::vector<at::Tensor> tensors_of(const NamedTensorList& named) {
  std::vector<at::Tensor> out;
  out.reserve(named.size());
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

Loop::Loop(Trainee& trainee, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id, const TrainConfig& cfg,
           const Hooks& hooks, const RunWriter& writer, const std::string& tokenizer_dir, const Schedule& schedule)
    : trainee_(trainee),
      model_(trainee.bert()),
      params_(trainee.parameters()),
      state_(trainee.state()),
      tensors_(tensors_of(params_)),
      data_(data),
      kind_(kind),
      pad_id_(pad_id),
      cfg_(cfg),
      hooks_(hooks),
      writer_(writer),
      tokenizer_dir_(tokenizer_dir),
      schedule_(schedule),
      dist_(cfg.dist.get()),
      device_(cfg.device),
      identity_(train_identity(cfg, dist_ ? dist_->world_size() : 1)),
      optimizer_(make_optimizer(trainee, params_, cfg)),
      masks_(masks_on_device(hooks.masks, device_)) {
  use_lazy_rows();
}

Loop::~Loop() {
  try {
    optimizer_.flush();  // a run that ends by an exception leaves its model up to date as well
  } catch (...) {
  }
  trainee_.sparse_row_gradients(false);
}

// The word embeddings' lazy rows (TrainConfig::lazy_embedding_rows), where they apply.
void Loop::use_lazy_rows() {
  const bool wanted = cfg_.lazy_embedding_rows && dist_ == nullptr && device_.is_cpu();
  const at::Tensor rows = trainee_.sparse_row_gradients(wanted);
  if (!rows.defined()) return;
  for (const auto& [name, p] : params_) {
    if (p.is_same(rows) && masks_.count(name) == 0 && optimizer_.set_lazy_rows(name)) return;
  }
  trainee_.sparse_row_gradients(false);
}

void Loop::resume() {
  bool resumed = writer_.writes() && load_checkpoint(writer_.dir(), state_, optimizer_, ckpt_, identity_);
  if (dist_) resumed = sync_start(*dist_, state_, optimizer_, ckpt_, resumed, writer_.dir());
  if (resumed) log::info("train", "resuming {} at step {}/{}", writer_.dir(), ckpt_.steps, schedule_.total());
  writer_.start_metrics(resumed, ckpt_.steps);
}

TrainResult Loop::run() {
  SignalGuard signals;
  trainee_.module().train();
  Progress progress("train", schedule_.total());
  progress_ = &progress;
  const auto start = std::chrono::steady_clock::now();
  if (!cfg_.profile_ops.empty()) ops_ = std::make_unique<OpProfile>();
  clock_.restart();
  steps_ = start_steps_ = ckpt_.steps;
  const double comm_before = dist_ ? dist_->comm_seconds() : 0.0;
  const int64_t per_epoch = schedule_.steps_per_epoch;
  while (steps_ < schedule_.total()) {
    const int64_t epoch = steps_ / per_epoch;
    const auto batches = epoch_batches(data_, schedule_.global_batch, cfg_.seed, epoch, cfg_.group_by_length);
    for (int64_t s = steps_ % per_epoch; s < per_epoch && steps_ < schedule_.total(); ++s) after_step(step(batches, s));
  }
  progress.finish();
  progress_ = nullptr;
  return finish(start, comm_before);
}

// One micro-batch's forward and backward pass on this rank's rows of it; adds its part of the
// step's loss to `step_loss`.
void Loop::accumulate(const std::vector<int64_t>& indices, double& step_loss) {
  Batch batch = collate(data_, indices, kind_, pad_id_, cfg_.pad_to);
  if (hooks_.transform_batch) hooks_.transform_batch(batch, steps_);
  const double share = dist_ ? shard_batch(batch, kind_, *dist_) : 1.0;  // this rank's rows of the global batch
  examples_ += static_cast<int64_t>(indices.size());
  if (share == 0.0) return;
  auto to_device = [this](at::Tensor& t) {
    if (t.defined()) t = t.to(device_);
  };
  to_device(batch.labels);
  to_device(batch.input_ids);
  to_device(batch.attention_mask);
  to_device(batch.token_type_ids);
  to_device(batch.end_labels);
  optimizer_.catch_up(batch.input_ids);  // the embedding rows this forward reads, when they are lazy
  clock_.mark(PhaseClock::kData);
  with_precision(cfg_.precision, [&] {
    auto loss = trainee_.loss(batch);
    loss = loss.to(torch::kFloat32) / static_cast<double>(cfg_.grad_accum);
    if (dist_) loss = loss * share;
    clock_.mark(PhaseClock::kForward);
    loss.backward();
    step_loss += loss.item<double>();
    clock_.mark(PhaseClock::kBackward);
  });
}

// Optimizer step `s` of the epoch's `batches`: its micro-batches' backward passes, the gradients
// averaged over ranks, masked and clipped, the AdamW update and the weights masked again. Returns
// whether some rank was asked to stop.
bool Loop::step(const Batches& batches, int64_t s) {
  double step_loss = 0.0;
  for (int64_t a = 0; a < cfg_.grad_accum; ++a) accumulate(batches[static_cast<size_t>(s * cfg_.grad_accum + a)], step_loss);
  bool stop = false;
  if (dist_) {  // average gradients over ranks (before masking and clipping); agree on stopping
    const auto reduced = reduce_gradients(*dist_, tensors_, step_loss, g_signal != 0);
    step_loss = reduced.loss;
    stop = reduced.stop;
  }
  mask_and_clip_gradients(model_, masks_, tensors_, cfg_.max_grad_norm);
  clock_.mark(PhaseClock::kClip);
  optimizer_step(optimizer_, schedule_.lr.at(steps_), model_, masks_);
  clock_.mark(PhaseClock::kOptimizer);
  ++steps_;
  running_loss_ += step_loss;
  ++running_count_;
  if (hooks_.after_step) {
    optimizer_.flush();
    hooks_.after_step(steps_, model_);
  }
  return stop;
}

// After each step: the train line and progress, evaluation and checkpoints when due, and on
// SIGINT/SIGTERM a checkpoint and Interrupted.
void Loop::after_step(bool stop) {
  const int64_t total = schedule_.total();
  report_train();
  clock_.mark(PhaseClock::kData);  // metrics and progress output
  if (schedule_.eval_every > 0 && steps_ % schedule_.eval_every == 0 && steps_ != total) {
    evaluate();
    clock_.mark(PhaseClock::kEval);
  }
  ckpt_.steps = steps_;
  if (dist_ ? stop : g_signal != 0) {
    checkpoint();
    progress_->finish();
    throw Interrupted(fmt::format("interrupted by signal {} at step {}/{}; checkpoint saved in {}/checkpoint; "
                                  "run the same command again to resume",
                                  g_signal.load(), steps_, total, writer_.dir()));
  }
  if (schedule_.save_every > 0 && steps_ % schedule_.save_every == 0 && steps_ != total) {
    checkpoint();
    clock_.mark(PhaseClock::kCheckpoint);
  }
}

// Every 50 steps (and at the end) the mean loss since the last line goes to metrics.jsonl.
void Loop::report_train() {
  const bool show = cfg_.progress && writer_.writes();
  if (steps_ % 50 == 0 || steps_ == schedule_.total()) {
    const double mean = running_loss_ / running_count_;
    nlohmann::json line = {{"step", steps_}, {"split", "train"}, {"loss", mean}, {"lr", schedule_.lr.at(steps_ - 1)}};
    trainee_.add_train_fields(line);
    writer_.append_metrics(line);
    if (show) progress_->update(steps_, fmt::format("loss {:.4f}", mean));
    running_loss_ = 0.0;
    running_count_ = 0;
  } else if (show) {
    progress_->update(steps_);
  }
}

void Loop::evaluate() {
  if (!hooks_.evaluate) return;
  optimizer_.flush();
  trainee_.module().eval();
  EvalContext context;
  context.precision = cfg_.precision;
  context.device = cfg_.device;
  context.dist = dist_;  // tasks::predict splits its batches over the ranks
  nlohmann::json m = hooks_.evaluate(model_, context);
  trainee_.module().train();
  const double epoch = static_cast<double>(steps_) / static_cast<double>(schedule_.steps_per_epoch);
  const bool best = writer_.record_eval(m, steps_, epoch, hooks_.main_metric, ckpt_.best);
  result_.final_metrics = m;
  if (best && cfg_.save_models) writer_.save_model(trainee_, "best", tokenizer_dir_);
}

// The resume checkpoint; `final`: the state a finished run keeps for the run that continues from it
// (weights and generators, no moments).
void Loop::checkpoint(bool final) {
  optimizer_.flush();
  std::vector<at::Tensor> rngs;
  if (dist_) rngs = dist_->all_gather(at::detail::getDefaultCPUGenerator().get_state());
  if (writer_.writes()) save_checkpoint(writer_.dir(), state_, final ? nullptr : &optimizer_, ckpt_, identity_, rngs);
}

// The final evaluation, the last model, result.json; the resume checkpoint is no longer needed.
TrainResult Loop::finish(std::chrono::steady_clock::time_point start, double comm_before) {
  optimizer_.flush();
  result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result_.examples_per_second = result_.seconds > 0 ? static_cast<double>(examples_) / result_.seconds : 0.0;
  result_.steps = steps_;
  if (dist_) {
    const double comm = dist_->comm_seconds() - comm_before;
    log::info("dist", "rank {}: {:.2f}s of {:.2f}s training in collectives ({:.1f}%)", dist_->rank(), comm,
              result_.seconds, result_.seconds > 0 ? 100.0 * comm / result_.seconds : 0.0);
  }
  if (ops_) {
    ops_->stop();
    write_file_atomic(cfg_.profile_ops, ops_->table(steps_ - start_steps_, 0, "lth training steps, per operator"));
    log::info("profile", "per-operator times of {} steps written to {}", steps_ - start_steps_, cfg_.profile_ops);
  }
  clock_.restart();
  evaluate();
  clock_.mark(PhaseClock::kEval);
  if (cfg_.profile) clock_.log(steps_ - start_steps_);
  if (cfg_.save_models) writer_.save_model(trainee_, "model", tokenizer_dir_);
  result_.best_metrics = ckpt_.best.metrics;
  if (cfg_.keep_final_state) {  // replaces the resume checkpoint (a rerun before result.json just finishes again)
    ckpt_.steps = steps_;
    checkpoint(/*final=*/true);
  }
  if (!writer_.writes()) return result_;
  nlohmann::json result = {{"final", result_.final_metrics}, {"best", result_.best_metrics}, {"steps", steps_},
                           {"seconds", result_.seconds}, {"examples_per_second", result_.examples_per_second},
                           {"resumed_from", start_steps_}, {"identity", identity_}};
  result.update(trainee_.result_fields());
  writer_.write_result(result);
  if (!cfg_.keep_final_state) writer_.remove_checkpoint();
  return result_;
}

// result.json of a finished run (rank 0's, on every rank), if there is one.
std::optional<nlohmann::json> finished_run(const RunWriter& writer, Dist* dist) {
  if (dist == nullptr) return writer.read_result();
  const std::string path = writer.result_path();
  const std::string done = broadcast_string(*dist, writer.writes() && path_exists(path) ? read_file(path) : std::string());
  if (done.empty()) return std::nullopt;
  return nlohmann::json::parse(done);
}

TrainResult skipped(const nlohmann::json& saved, const nlohmann::json& identity, const std::string& path) {
  check_identity(saved.value("identity", nlohmann::json()), identity, path, "the finished run");
  return finished_result(saved, path, "train");
}

}  // namespace

TrainResult finished_result(const nlohmann::json& saved, const std::string& path, const char* tag) {
  TrainResult result;
  result.final_metrics = saved.value("final", nlohmann::json::object());
  result.best_metrics = saved.value("best", nlohmann::json::object());
  result.steps = saved.value("steps", int64_t{0});
  result.skipped = true;
  log::info(tag, "{} exists: training already done, skipped", path);
  return result;
}

// Installs sparse training for a masked run (TrainConfig::sparse_training) and removes it when the
// training ends, however it ends.
class SparseTrainingScope {
 public:
  SparseTrainingScope(model::Bert& model, const prune::Mask* masks, const TrainConfig& cfg) : model_(model) {
    LTH_CHECK(cfg.sparse_training == "auto" || cfg.sparse_training == "on" || cfg.sparse_training == "off",
              UsageError, "--sparse-training must be auto, on or off, got '{}'", cfg.sparse_training);
    if (masks == nullptr || cfg.sparse_training == "off" || !torch::Device(cfg.device).is_cpu()) return;
    model::SparseOptions options;
    options.respect_crossover = cfg.sparse_training == "auto";
    const model::SparseUse use = model::use_sparse_training(model, masks->tensors, options);
    installed_ = true;
    // Quiet where nothing runs sparse (e.g. IMP's level 0, whose mask keeps everything).
    if (use.sparse > 0) {
      log::info("train", "sparse training: {} of {} encoder Linear weights run sparse", use.sparse, use.sparse + use.dense);
    }
  }
  ~SparseTrainingScope() {
    if (installed_) model::clear_packed_weights(model_);
  }
  SparseTrainingScope(const SparseTrainingScope&) = delete;
  SparseTrainingScope& operator=(const SparseTrainingScope&) = delete;

 private:
  model::Bert& model_;
  bool installed_ = false;
};

std::optional<nlohmann::json> read_finished(const std::string& run_dir, Dist* dist) {
  return finished_run(RunWriter(run_dir, dist == nullptr || dist->is_main()), dist);
}

TrainResult train(Trainee& trainee, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id,
                  const TrainConfig& cfg, const Hooks& hooks, const std::string& run_dir,
                  const std::string& tokenizer_dir) {
  Dist* dist = cfg.dist.get();
  const RunWriter writer(run_dir, dist == nullptr || dist->is_main());  // only rank 0 writes files
  const int64_t world = dist ? dist->world_size() : 1;
  if (const auto saved = finished_run(writer, dist)) return skipped(*saved, train_identity(cfg, world), writer.result_path());
  LTH_CHECK(!data.empty(), Error, "no training examples");
  LTH_CHECK(cfg.batch_size > 0 && cfg.grad_accum > 0, UsageError, "--batch-size and --grad-accum must be positive");
  if (!cfg.profile_ops.empty()) {  // refused before the training, not after it
    const std::filesystem::path ops(cfg.profile_ops);
    LTH_CHECK(!std::filesystem::is_directory(ops), IoError, "{}: --profile-ops names a folder, expected a file", cfg.profile_ops);
    LTH_CHECK(!ops.has_parent_path() || std::filesystem::is_directory(ops.parent_path()), IoError,
              "{}: --profile-ops: folder {} does not exist", cfg.profile_ops, ops.parent_path().string());
  }
  writer.create();
  trainee.module().to(torch::Device(cfg.device));
  if (hooks.masks) hooks.masks->apply(trainee.bert());
  const SparseTrainingScope sparse(trainee.bert(), hooks.masks, cfg);
  const Schedule schedule = make_schedule(cfg, static_cast<int64_t>(data.size()), world);
  Loop loop(trainee, data, kind, pad_id, cfg, hooks, writer, tokenizer_dir, schedule);
  loop.resume();
  return loop.run();
}

TrainResult train(model::Bert& model, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id,
                  const TrainConfig& cfg, const Hooks& hooks, const std::string& run_dir,
                  const std::string& tokenizer_dir) {
  BertTrainee trainee(model);
  return train(trainee, data, kind, pad_id, cfg, hooks, run_dir, tokenizer_dir);
}

}  // namespace lth::train
