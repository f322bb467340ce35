#include "mux/mux_train.h"

#include <algorithm>
#include <chrono>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "mux/retrieval.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/run_writer.h"
#include "train/step.h"
#include "train/trainee.h"

namespace lth::mux {
namespace {

bool mux_decays(const std::string& name) {
  if (!train::decays_by_default(name)) return false;
  // The mux parts: no decay on biases and LayerNorms (as HF), nor on the learned keys.
  return name.find("layer_norm.") == std::string::npos && name != "retrieval.bias" && name != "demux.mlp_bias" &&
         name != "demux.keys";
}

// A batch's rows completed to a multiple of `n` with copies of its last row.
void pad_rows(train::Batch& batch, int64_t n) {
  const int64_t rows = batch.input_ids.size(0);
  LTH_CHECK(rows > 0, ShapeError, "an empty batch cannot be grouped");
  const int64_t padded = (rows + n - 1) / n * n;
  if (padded == rows) return;
  const auto pick = torch::arange(padded, torch::TensorOptions(batch.input_ids.device()).dtype(torch::kLong))
                        .clamp_max(rows - 1);
  for (at::Tensor* t : {&batch.input_ids, &batch.attention_mask, &batch.token_type_ids, &batch.labels, &batch.end_labels}) {
    if (t->defined()) *t = t->index_select(0, pick);
  }
  if (!batch.indices.empty()) batch.indices.resize(static_cast<size_t>(padded), batch.indices.back());
}

// A MuxBert as the training loop sees it, in one phase: the warm-up's loss is retrieval alone, the
// task phase's task_weight·task + retrieval_weight·retrieval. Optimizer names: the BERT's own (HF
// names, what masks name) and the mux parts' ("mux.", "demux.", "retrieval."); the checkpoint also
// holds the mux parts' fixed buffers.
class MuxTrainee : public train::Trainee {
 public:
  MuxTrainee(MuxBert& model, std::string phase, train::LabelKind kind, const MuxTrainConfig& config,
             nlohmann::json result_fields)
      : model_(model), phase_(std::move(phase)), task_(phase_ == "task"), kind_(kind), config_(config),
        result_fields_(std::move(result_fields)) {}

  torch::nn::Module& module() override { return *model_; }
  model::Bert& bert() override { return model_->bert; }
  train::NamedTensorList parameters() override { return with_bert_parameters(model_->mux_parameters()); }
  bool decays(const std::string& name) const override { return mux_decays(name); }
  train::NamedTensorList state() override { return with_bert_parameters(model_->mux_state()); }
  at::Tensor loss(train::Batch& batch) override;
  void add_train_fields(nlohmann::json& line) override;
  nlohmann::json result_fields() const override { return result_fields_; }
  void save_model(const std::string& dir, const std::string& tokenizer_dir) override {
    save_mux(model_, dir, tokenizer_dir);
  }

 private:
  // The BERT's parameters (HF names), then the mux parts' `tensors`.
  train::NamedTensorList with_bert_parameters(const train::NamedTensorList& tensors) {
    train::NamedTensorList out = train::named_parameters(model_->bert);
    out.insert(out.end(), tensors.begin(), tensors.end());
    return out;
  }

  // The running sums of the train lines (reset at each line).
  struct Sums {
    double task = 0.0, retrieval = 0.0;
    int64_t count = 0, hits = 0, counted = 0;
  };

  MuxBert& model_;
  const std::string phase_;
  const bool task_;
  const train::LabelKind kind_;
  const MuxTrainConfig& config_;
  const nlohmann::json result_fields_;
  Sums sums_;
};

at::Tensor MuxTrainee::loss(train::Batch& batch) {
  pad_rows(batch, model_->n());
  MuxForwardOptions fo;
  fo.retrieval = true;
  fo.retrieval_fraction = config_.retrieval_fraction;
  fo.all_positions = task_ && kind_ == train::LabelKind::kPerToken;
  auto out = model_->forward(batch.input_ids, batch.attention_mask, batch.token_type_ids, fo);
  auto ret = retrieval_loss(out.retrieval_logits, out.retrieval_targets);
  at::Tensor loss = ret;
  if (task_) {
    auto task_loss = model::head_loss(model_->bert->config(), out.task, batch.labels).to(torch::kFloat32);
    sums_.task += task_loss.item<double>();
    loss = config_.task_weight * task_loss + config_.retrieval_weight * ret;
  }
  sums_.retrieval += ret.item<double>();
  auto [c, k] = retrieval_hits(out.retrieval_logits.detach(), out.retrieval_targets);
  sums_.hits += c;
  sums_.counted += k;
  ++sums_.count;
  return loss;
}

// This rank's means since the last line (the loop's "loss" is the global batch's).
void MuxTrainee::add_train_fields(nlohmann::json& line) {
  const double count = static_cast<double>(std::max<int64_t>(1, sums_.count));
  line["phase"] = phase_;
  line["retrieval_loss"] = sums_.retrieval / count;
  line["retrieval_accuracy"] =
      sums_.counted > 0 ? static_cast<double>(sums_.hits) / static_cast<double>(sums_.counted) : 0.0;
  if (task_) line["task_loss"] = sums_.task / count;
  sums_ = Sums{};
}

// The loop's hooks for one phase: the masks and the caller's after_step.
train::Hooks phase_hooks(const MuxTrainHooks& hooks, const std::string& phase) {
  train::Hooks h;
  h.masks = hooks.masks;
  if (hooks.after_step) {
    h.after_step = [&hooks, phase](int64_t steps, model::Bert&) { hooks.after_step(phase, steps); };
  }
  return h;
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
  train::Batch grouped = batch;
  pad_rows(grouped, model->n());  // copies of the last row fill the group
  MuxForwardOptions fo;
  fo.all_positions = all_positions;
  auto out = model->forward(grouped.input_ids.to(device), grouped.attention_mask.to(device),
                            grouped.token_type_ids.to(device), fo);
  return first_rows(out.task, rows);
}

double PredictStats::retrieval_unigram_accuracy() const {
  int64_t most = 0;
  for (const auto& [token, count] : retrieval_target_counts) most = std::max(most, count);
  return share(most);
}

nlohmann::json PredictStats::retrieval_json() const {
  return {{"retrieval_accuracy", retrieval_accuracy()},
          {"retrieval_any_instance_accuracy", retrieval_any_instance_accuracy()},
          {"retrieval_unigram_accuracy", retrieval_unigram_accuracy()}};
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
        const auto predicted = out.retrieval_logits.argmax(-1);  // once: the vocabulary-wide argmax
        stats.retrieval_correct += predicted.eq(out.retrieval_targets).sum().item<int64_t>();
        stats.retrieval_counted += out.retrieval_targets.numel();
        stats.retrieval_any_instance +=
            retrieval_any_instance_hits(predicted, out.retrieval_positions, batch.input_ids, n);
        const auto targets = out.retrieval_targets.to(torch::kCPU).contiguous();
        const auto* t = targets.data_ptr<int64_t>();
        for (int64_t k = 0; k < targets.numel(); ++k) ++stats.retrieval_target_counts[t[k]];
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

// The retrieval warm-up (a training run in run_dir/warmup), evaluated by its retrieval accuracy on
// held-out text along the way and at its end; returns the final metrics. When it finished before (a restarted run), the
// model and the generators continue from the state it kept.
nlohmann::json warm_up(MuxBert& model, const std::vector<train::Feature>& text, const std::vector<train::Feature>& dev,
                       int64_t pad_id, const MuxTrainConfig& config, const MuxTrainHooks& hooks,
                       const std::string& run_dir, const std::string& tokenizer_dir) {
  const auto& cfg = config.train;
  train::TrainConfig w = cfg;
  w.seed = cfg.seed + 7717;  // the warm-up's batches: another draw than the task's
  w.lr = config.warmup_lr;
  w.batch_size = config.warmup_batch_size > 0 ? config.warmup_batch_size : cfg.batch_size;
  w.length = fmt::format("{}it", config.warmup_steps);
  w.warmup = fmt::format("{}it", std::min<int64_t>(config.warmup_steps / 10, 1000));
  // Retrieval on held-out text ten times over the warm-up by default: its learning curve.
  w.eval_every = config.warmup_eval_every.empty()
                     ? fmt::format("{}it", std::max<int64_t>(1, config.warmup_steps / 10))
                     : config.warmup_eval_every;
  w.save_models = false;
  w.keep_final_state = true;
  MuxTrainee trainee(model, "warmup", train::LabelKind::kNone, config, {{"n", model->n()}});
  train::Hooks h = phase_hooks(hooks, "warmup");
  h.evaluate = [&](model::Bert&, const train::EvalContext&) {
    const auto stats = predict_mux(model, dev.empty() ? text : dev, pad_id, cfg.batch_size, cfg.precision, cfg.device,
                                   true, nullptr);
    log::info("mux", "warm-up retrieval accuracy {:.4f} (any instance's token {:.4f}, unigram baseline {:.4f}) on {} sequences",
              stats.retrieval_accuracy(), stats.retrieval_any_instance_accuracy(), stats.retrieval_unigram_accuracy(),
              stats.examples);
    nlohmann::json m{{"phase", "warmup"}, {"n", model->n()}, {"examples", stats.examples}};
    m.update(stats.retrieval_json());
    return m;
  };
  const std::string dir = run_dir + "/warmup";
  log::info("mux", "retrieval warm-up: {} steps on {} text sequences, N={}", config.warmup_steps, text.size(), model->n());
  const auto result = train::train(trainee, text, train::LabelKind::kNone, pad_id, w, h, dir, tokenizer_dir);
  if (result.skipped) train::load_final_state(dir, trainee.state(), w.dist.get());
  return result.final_metrics;
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
  train::Dist* dist = config.train.dist.get();
  const train::RunWriter writer(run_dir, dist == nullptr || dist->is_main());  // only rank 0 writes files
  if (const auto saved = train::read_finished(run_dir, dist)) return skipped(*saved, writer.result_path());
  const int64_t n = model->n();
  check_config(config, n, !warmup_text.empty(), !task_data.empty());
  const auto start = std::chrono::steady_clock::now();
  MuxTrainResult result;
  if (config.warmup_steps > 0) {
    result.warmup_metrics = warm_up(model, warmup_text, warmup_dev, pad_id, config, hooks, run_dir, tokenizer_dir);
  }
  if (task_data.empty()) {  // warm-up only: its model and result are the run's
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (writer.writes() && config.train.save_models) save_mux(model, run_dir + "/model", tokenizer_dir);
    writer.write_result({{"warmup", result.warmup_metrics}, {"final", nlohmann::json::object()},
                         {"best", nlohmann::json::object()}, {"steps", 0}, {"warmup_steps", config.warmup_steps},
                         {"seconds", result.seconds}, {"n", n}, {"main_metric", hooks.main_metric}});
    return result;
  }
  MuxTrainee trainee(model, "task", kind, config,
                     {{"warmup", result.warmup_metrics}, {"warmup_steps", config.warmup_steps}, {"n", n},
                      {"main_metric", hooks.main_metric}});
  train::Hooks h = phase_hooks(hooks, "task");
  if (hooks.evaluate) {
    h.evaluate = [&](model::Bert&, const train::EvalContext&) {
      nlohmann::json m = hooks.evaluate(model);
      m["phase"] = "task";
      return m;
    };
  }
  h.main_metric = hooks.main_metric;
  log::info("mux", "task fine-tuning: {} examples, N={}, loss {}·task + {}·retrieval", task_data.size(), n,
            config.task_weight, config.retrieval_weight);
  static_cast<train::TrainResult&>(result) =
      train::train(trainee, task_data, kind, pad_id, config.train, h, run_dir, tokenizer_dir);
  return result;
}

}  // namespace lth::mux
