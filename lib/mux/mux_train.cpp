#include "mux/mux_train.h"

#include <algorithm>
#include <chrono>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/step.h"
#include "mux/retrieval.h"
#include "train/adamw.h"
#include "train/run_writer.h"
#include "train/schedule.h"
#include "train/step.h"

namespace lth::mux {
namespace {

bool decays(const std::string& name) {
  if (!train::decays_by_default(name)) return false;
  // The mux parts: no decay on biases and LayerNorms (as HF), nor on the learned keys.
  return name.find("layer_norm.") == std::string::npos && name != "retrieval.bias" && name != "demux.mlp_bias" &&
         name != "demux.keys";
}

// Model parameters with their optimizer names: the BERT's own (HF names, what masks name) and the
// mux parts' ("mux.", "demux.", "retrieval.").
std::vector<std::pair<std::string, at::Tensor>> all_parameters(MuxBert& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : model->bert->named_parameters()) out.emplace_back(item.key(), item.value());
  for (auto& p : model->mux_parameters()) out.push_back(p);
  return out;
}

struct Phase {
  std::string name;  // "warmup" | "task"
  const std::vector<train::Feature>* data = nullptr;
  train::LabelKind kind = train::LabelKind::kNone;
  int64_t batch_size = 0;
  train::LrSchedule lr;  // lr.total: optimizer steps
  bool task = false;
};

// The running sums of the train lines (reset at each line).
struct Sums {
  double loss = 0.0, task = 0.0, retrieval = 0.0;
  int64_t count = 0, hits = 0, counted = 0;
};

// Both phases of one train_mux call: the model, its masks on the device, the run directory's files
// and the best evaluation so far.
class MuxLoop {
 public:
  MuxLoop(MuxBert& model, const MuxTrainConfig& config, const MuxTrainHooks& hooks, const train::RunWriter& writer,
          int64_t pad_id, const std::string& tokenizer_dir)
      : model_(model), config_(config), cfg_(config.train), hooks_(hooks), writer_(writer), pad_id_(pad_id),
        tokenizer_dir_(tokenizer_dir), device_(cfg_.device) {}

  void start() {
    model_->to(device_);
    if (hooks_.masks) hooks_.masks->apply(model_->bert);
    masks_ = train::masks_on_device(hooks_.masks, device_);
  }
  void run(const Phase& phase);
  void evaluate(int64_t steps, double epoch);
  MuxTrainResult& result() { return result_; }

 private:
  void step(const Phase& phase, train::AdamW& optimizer, std::vector<int64_t> indices, int64_t steps, Sums& sums);
  void report(const Phase& phase, int64_t steps, Sums& sums, Progress& progress) const;

  MuxBert& model_;
  const MuxTrainConfig& config_;
  const train::TrainConfig& cfg_;
  const MuxTrainHooks& hooks_;
  const train::RunWriter& writer_;
  const int64_t pad_id_;
  const std::string& tokenizer_dir_;
  const torch::Device device_;
  prune::NamedTensors masks_;
  train::Best best_;
  MuxTrainResult result_;
};

void MuxLoop::evaluate(int64_t steps, double epoch) {
  if (!hooks_.evaluate) return;
  nlohmann::json m = hooks_.evaluate(model_);
  model_->train();
  m["phase"] = "task";
  const bool best = writer_.record_eval(m, steps, epoch, hooks_.main_metric, best_);
  result_.final_metrics = m;
  result_.best_metrics = best_.metrics;
  if (best && cfg_.save_models) save_mux(model_, writer_.dir() + "/best", tokenizer_dir_);
}

// One optimizer step on one batch: retrieval loss (warm-up) or the weighted task + retrieval loss.
void MuxLoop::step(const Phase& phase, train::AdamW& optimizer, std::vector<int64_t> indices, int64_t steps,
                   Sums& sums) {
  pad_to_groups(indices, model_->n());
  auto batch = train::collate(*phase.data, indices, phase.kind, pad_id_, cfg_.pad_to);
  double task_value = 0.0, ret_value = 0.0, loss_value = 0.0;
  train::with_precision(cfg_.precision, [&] {
    MuxForwardOptions fo;
    fo.retrieval = true;
    fo.retrieval_fraction = config_.retrieval_fraction;
    fo.all_positions = phase.task && phase.kind == train::LabelKind::kPerToken;
    auto out = model_->forward(batch.input_ids.to(device_), batch.attention_mask.to(device_),
                               batch.token_type_ids.to(device_), fo);
    auto ret = retrieval_loss(out.retrieval_logits, out.retrieval_targets);
    at::Tensor loss = ret;
    if (phase.task) {
      auto task_loss = model::head_loss(model_->bert->config(), out.task, batch.labels.to(device_)).to(torch::kFloat32);
      task_value = task_loss.item<double>();
      loss = config_.task_weight * task_loss + config_.retrieval_weight * ret;
    }
    loss.backward();
    ret_value = ret.item<double>();
    loss_value = loss.item<double>();
    auto [c, k] = retrieval_hits(out.retrieval_logits.detach(), out.retrieval_targets);
    sums.hits += c;
    sums.counted += k;
  });
  train::mask_and_clip_gradients(model_->bert, masks_, model_->parameters(), cfg_.max_grad_norm);
  train::optimizer_step(optimizer, phase.lr.at(steps), model_->bert, masks_);
  sums.loss += loss_value;
  sums.task += task_value;
  sums.retrieval += ret_value;
  ++sums.count;
}

// Every 50 steps (and at the end) the means since the last line go to metrics.jsonl.
void MuxLoop::report(const Phase& phase, int64_t steps, Sums& sums, Progress& progress) const {
  if (steps % 50 == 0 || steps == phase.lr.total) {
    nlohmann::json line = {{"step", steps}, {"phase", phase.name}, {"split", "train"},
                           {"loss", sums.loss / sums.count}, {"retrieval_loss", sums.retrieval / sums.count},
                           {"retrieval_accuracy", sums.counted > 0 ? static_cast<double>(sums.hits) / sums.counted : 0.0},
                           {"lr", phase.lr.at(steps - 1)}};
    if (phase.task) line["task_loss"] = sums.task / sums.count;
    writer_.append_metrics(line);
    if (cfg_.progress) progress.update(steps, fmt::format("loss {:.4f}", sums.loss / sums.count));
    sums = Sums{};
  } else if (cfg_.progress) {
    progress.update(steps);
  }
}

}  // namespace

namespace {

// The task outputs of the first `rows` rows: the real ones, before the padding of the last group.
model::BertOutputs first_rows(const model::BertOutputs& out, int64_t rows) {
  auto cut = [rows](const at::Tensor& t) { return t.defined() ? t.slice(0, 0, rows) : t; };
  model::BertOutputs kept;
  kept.last_hidden_state = cut(out.last_hidden_state);
  kept.pooler_output = cut(out.pooler_output);
  kept.logits = cut(out.logits);
  kept.start_logits = cut(out.start_logits);
  kept.end_logits = cut(out.end_logits);
  return kept;
}

}  // namespace

size_t pad_to_groups(std::vector<int64_t>& indices, int64_t n) {
  const size_t real = indices.size();
  LTH_CHECK(real > 0, ShapeError, "an empty batch cannot be grouped");
  while (indices.size() % static_cast<size_t>(n) != 0) indices.push_back(indices.back());
  return real;
}

model::BertOutputs forward_rows(MuxBert& model, const train::Batch& batch, const c10::Device& device,
                                bool all_positions) {
  torch::NoGradGuard no_grad;
  const int64_t rows = batch.input_ids.size(0);
  LTH_CHECK(rows > 0, ShapeError, "an empty batch cannot be multiplexed");
  const int64_t n = model->n();
  const int64_t padded = (rows + n - 1) / n * n;
  auto pick = torch::arange(padded).clamp_max(rows - 1);  // copies of the last row fill the group
  auto take = [&](const at::Tensor& t) { return t.index_select(0, pick).to(device); };
  MuxForwardOptions fo;
  fo.all_positions = all_positions;
  auto out = model->forward(take(batch.input_ids), take(batch.attention_mask), take(batch.token_type_ids), fo);
  return first_rows(out.task, rows);
}

PredictStats predict_mux(MuxBert& model, const std::vector<train::Feature>& features, int64_t pad_id,
                         int64_t batch_size, const std::string& precision, const std::string& device, bool retrieval,
                         const std::function<void(const std::vector<int64_t>&, const model::BertOutputs&)>& consume,
                         bool all_positions) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t n = model->n();
  const int64_t rows = std::max<int64_t>(n, (batch_size + n - 1) / n * n);
  const torch::Device dev(device);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(20240611);
  PredictStats stats;
  for (auto indices : train::eval_batches(features, rows, /*sort=*/true)) {
    const size_t real = pad_to_groups(indices, n);
    auto batch = train::collate(features, indices, train::LabelKind::kNone, pad_id);
    MuxForwardOptions fo;
    fo.all_positions = all_positions;
    fo.retrieval = retrieval;
    fo.generator = gen;
    fo.real_rows = torch::arange(static_cast<int64_t>(indices.size())).lt(static_cast<int64_t>(real));
    train::with_precision(precision, [&] {
      auto out = model->forward(batch.input_ids.to(dev), batch.attention_mask.to(dev), batch.token_type_ids.to(dev), fo);
      if (retrieval) {
        auto [correct, counted] = retrieval_hits(out.retrieval_logits, out.retrieval_targets);
        stats.retrieval_correct += correct;
        stats.retrieval_counted += counted;
      }
      if (consume) {
        consume(std::vector<int64_t>(indices.begin(), indices.begin() + static_cast<std::ptrdiff_t>(real)),
                first_rows(out.task, static_cast<int64_t>(real)));
      }
    });
    stats.examples += static_cast<int64_t>(real);
    stats.forward_rows += static_cast<int64_t>(indices.size());
  }
  if (was_training) model->train();
  return stats;
}

namespace {

void MuxLoop::run(const Phase& phase) {
  const auto& data = *phase.data;
  const int64_t per_epoch = train::steps_per_epoch(static_cast<int64_t>(data.size()), phase.batch_size);
  const int64_t eval_every = train::eval_interval(cfg_.eval_every, per_epoch);  // 0: only at the end
  train::AdamWOptions adam;
  adam.lr = phase.lr.peak;
  adam.weight_decay = cfg_.weight_decay;
  train::AdamW optimizer(all_parameters(model_), adam, decays);
  model_->train();
  Progress progress("mux " + phase.name, phase.lr.total);
  Sums sums;
  int64_t steps = 0;
  for (int64_t epoch = 0; steps < phase.lr.total; ++epoch) {
    const auto batches =
        train::epoch_batches(data, phase.batch_size, cfg_.seed + (phase.task ? 0 : 7717), epoch, cfg_.group_by_length);
    for (size_t b = 0; b < batches.size() && steps < phase.lr.total; ++b) {
      step(phase, optimizer, batches[b], steps, sums);
      ++steps;
      report(phase, steps, sums, progress);
      if (phase.task && eval_every > 0 && steps % eval_every == 0 && steps != phase.lr.total) {
        evaluate(steps, static_cast<double>(steps) / static_cast<double>(per_epoch));
      }
    }
  }
  progress.finish();
}

// The retrieval warm-up, then its retrieval accuracy on held-out text.
void warm_up(MuxLoop& loop, MuxBert& model, const std::vector<train::Feature>& text, const std::vector<train::Feature>& dev,
             int64_t pad_id, const MuxTrainConfig& config, const train::RunWriter& writer) {
  const auto& cfg = config.train;
  Phase w;
  w.name = "warmup";
  w.data = &text;
  w.batch_size = config.warmup_batch_size > 0 ? config.warmup_batch_size : cfg.batch_size;
  w.lr = {config.warmup_lr, std::min<int64_t>(config.warmup_steps / 10, 1000), config.warmup_steps};
  log::info("mux", "retrieval warm-up: {} steps on {} text sequences, N={}", w.lr.total, text.size(), model->n());
  loop.run(w);
  const auto stats = predict_mux(model, dev.empty() ? text : dev, pad_id, cfg.batch_size, cfg.precision, cfg.device,
                                 true, nullptr);
  auto& metrics = loop.result().warmup_metrics;
  metrics = {{"phase", "warmup"}, {"split", "dev"}, {"step", config.warmup_steps}, {"n", model->n()},
             {"examples", stats.examples}, {"retrieval_accuracy", stats.retrieval_accuracy()}};
  writer.append_metrics(metrics);
  log::info("mux", "warm-up retrieval accuracy {:.4f} on {} sequences", stats.retrieval_accuracy(), stats.examples);
  model->train();
}

// Task fine-tuning, then the final evaluation; returns the steps taken.
int64_t fine_tune(MuxLoop& loop, const std::vector<train::Feature>& data, train::LabelKind kind, int64_t n,
                  const MuxTrainConfig& config) {
  const auto& cfg = config.train;
  Phase t;
  t.name = "task";
  t.data = &data;
  t.kind = kind;
  t.task = true;
  t.batch_size = cfg.batch_size;
  const int64_t per_epoch = train::steps_per_epoch(static_cast<int64_t>(data.size()), cfg.batch_size);
  t.lr.total = Step::parse(cfg.length).resolve(per_epoch);
  t.lr.warmup = Step::parse(cfg.warmup).resolve(per_epoch);
  t.lr.peak = cfg.lr;
  LTH_CHECK(t.lr.total > 0, UsageError, "training length {} is zero steps", cfg.length);
  log::info("mux", "task fine-tuning: {} steps, {} examples, N={}, loss {}·task + {}·retrieval", t.lr.total, data.size(),
            n, config.task_weight, config.retrieval_weight);
  loop.run(t);
  loop.evaluate(t.lr.total, static_cast<double>(t.lr.total) / static_cast<double>(per_epoch));
  return t.lr.total;
}

void check_config(const MuxTrainConfig& config, int64_t n, bool has_text, bool has_task) {
  const auto& cfg = config.train;
  LTH_CHECK(cfg.batch_size > 0, UsageError, "--batch-size must be positive");
  LTH_CHECK(config.warmup_steps == 0 || has_text, UsageError, "--warmup-steps {} needs raw text (--text PATH)",
            config.warmup_steps);
  LTH_CHECK(config.warmup_steps > 0 || has_task, UsageError, "nothing to train: no task data and no warm-up");
  if (cfg.batch_size % n != 0) {
    log::warn("mux", "--batch-size {} is not a multiple of N={}: each batch's last group is completed with duplicates",
              cfg.batch_size, n);
  }
}

MuxTrainResult skipped(const nlohmann::json& saved, const std::string& path) {
  MuxTrainResult result;
  static_cast<train::TrainResult&>(result) = train::finished_result(saved, path, "mux");
  result.warmup_metrics = saved.value("warmup", nlohmann::json::object());
  return result;
}

}  // namespace

MuxTrainResult train_mux(MuxBert& model, const std::vector<train::Feature>& warmup_text,
                         const std::vector<train::Feature>& warmup_dev, const std::vector<train::Feature>& task_data,
                         train::LabelKind kind, int64_t pad_id, const MuxTrainConfig& config, const MuxTrainHooks& hooks,
                         const std::string& run_dir, const std::string& tokenizer_dir) {
  const train::RunWriter writer(run_dir, true);
  if (const auto saved = writer.read_result()) return skipped(*saved, writer.result_path());
  const int64_t n = model->n();
  check_config(config, n, !warmup_text.empty(), !task_data.empty());
  writer.create();
  writer.start_metrics(false, 0);
  MuxLoop loop(model, config, hooks, writer, pad_id, tokenizer_dir);
  loop.start();
  const auto start = std::chrono::steady_clock::now();
  if (config.warmup_steps > 0) warm_up(loop, model, warmup_text, warmup_dev, pad_id, config, writer);
  const int64_t task_steps = task_data.empty() ? 0 : fine_tune(loop, task_data, kind, n, config);
  MuxTrainResult& result = loop.result();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.steps = task_steps;
  if (config.train.save_models) save_mux(model, run_dir + "/model", tokenizer_dir);
  writer.write_result({{"warmup", result.warmup_metrics}, {"final", result.final_metrics},
                       {"best", result.best_metrics}, {"steps", task_steps}, {"warmup_steps", config.warmup_steps},
                       {"seconds", result.seconds}, {"n", n}, {"main_metric", hooks.main_metric}});
  return result;
}

}  // namespace lth::mux
