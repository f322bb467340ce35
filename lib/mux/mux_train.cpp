#include "mux/mux_train.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/step.h"
#include "mux/retrieval.h"
#include "train/adamw.h"
#include "train/step.h"

namespace lth::mux {
namespace fs = std::filesystem;
namespace {

void append_line(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::app);
  out << j.dump() << "\n";
}

double metric_value(const nlohmann::json& metrics, const std::string& name) {
  auto it = metrics.find(name);
  return (it != metrics.end() && it->is_number()) ? it->get<double>() : -1e300;
}

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
  int64_t total = 0;   // optimizer steps
  int64_t warmup = 0;  // LR warm-up steps
  double lr = 0.0;
  bool task = false;
};

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

MuxTrainResult train_mux(MuxBert& model, const std::vector<train::Feature>& warmup_text,
                         const std::vector<train::Feature>& warmup_dev, const std::vector<train::Feature>& task_data,
                         train::LabelKind kind, int64_t pad_id, const MuxTrainConfig& config, const MuxTrainHooks& hooks,
                         const std::string& run_dir, const std::string& tokenizer_dir) {
  MuxTrainResult result;
  const std::string result_path = run_dir + "/result.json";
  if (path_exists(result_path)) {
    const auto saved = read_json_file(result_path);
    result.warmup_metrics = saved.value("warmup", nlohmann::json::object());
    result.final_metrics = saved.value("final", nlohmann::json::object());
    result.best_metrics = saved.value("best", nlohmann::json::object());
    result.steps = saved.value("steps", int64_t{0});
    result.skipped = true;
    log::info("mux", "{} exists: training already done, skipped", result_path);
    return result;
  }
  const auto& cfg = config.train;
  const int64_t n = model->n();
  LTH_CHECK(cfg.batch_size > 0, UsageError, "--batch-size must be positive");
  LTH_CHECK(config.warmup_steps == 0 || !warmup_text.empty(), UsageError,
            "--warmup-steps {} needs raw text (--text PATH)", config.warmup_steps);
  LTH_CHECK(config.warmup_steps > 0 || !task_data.empty(), UsageError, "nothing to train: no task data and no warm-up");
  if (cfg.batch_size % n != 0) {
    log::warn("mux", "--batch-size {} is not a multiple of N={}: each batch's last group is completed with duplicates",
              cfg.batch_size, n);
  }
  make_dirs(run_dir);
  const std::string metrics_path = run_dir + "/metrics.jsonl";
  if (path_exists(metrics_path)) fs::remove(metrics_path);
  const torch::Device device(cfg.device);
  model->to(device);

  std::map<std::string, at::Tensor> masks_on_device;
  if (hooks.masks) {
    hooks.masks->apply(model->bert);
    for (const auto& [name, m] : hooks.masks->tensors) masks_on_device[name] = m.to(device, torch::kFloat32);
  }
  auto bert_params = model->bert->named_parameters();
  double best = -1e300;
  const auto start = std::chrono::steady_clock::now();

  auto evaluate = [&](int64_t steps, double epoch) {
    if (!hooks.evaluate) return;
    nlohmann::json m = hooks.evaluate(model);
    model->train();
    m["step"] = steps;
    m["epoch"] = epoch;
    m["phase"] = "task";
    m["split"] = "dev";
    append_line(metrics_path, m);
    result.final_metrics = m;
    const double v = metric_value(m, hooks.main_metric);
    if (v > best) {
      best = v;
      result.best_metrics = m;
      if (cfg.save_models) save_mux(model, run_dir + "/best", tokenizer_dir);
    }
  };

  auto run = [&](const Phase& phase) {
    const int64_t bs = phase.batch_size;
    const auto& data = *phase.data;
    const int64_t per_epoch = std::max<int64_t>(1, (static_cast<int64_t>(data.size()) + bs - 1) / bs);
    // 0 (eval_every "0it"): evaluate only at the end of training.
    const int64_t eval_every = cfg.eval_every.empty() ? per_epoch : Step::parse(cfg.eval_every).resolve(per_epoch);
    train::AdamWOptions adam;
    adam.lr = phase.lr;
    adam.weight_decay = cfg.weight_decay;
    train::AdamW optimizer(all_parameters(model), adam, decays);
    auto lr_at = [&](int64_t step) {
      if (phase.warmup > 0 && step < phase.warmup) return phase.lr * static_cast<double>(step) / static_cast<double>(phase.warmup);
      return phase.lr * std::max(0.0, static_cast<double>(phase.total - step) /
                                          static_cast<double>(std::max<int64_t>(1, phase.total - phase.warmup)));
    };
    model->train();
    Progress progress("mux " + phase.name, phase.total);
    double loss_sum = 0.0, task_sum = 0.0, ret_sum = 0.0;
    int64_t loss_count = 0, hits = 0, counted = 0;
    int64_t steps = 0;
    for (int64_t epoch = 0; steps < phase.total; ++epoch) {
      const auto batches = train::epoch_batches(data, bs, cfg.seed + (phase.task ? 0 : 7717), epoch, cfg.group_by_length);
      for (size_t b = 0; b < batches.size() && steps < phase.total; ++b) {
        auto indices = batches[b];
        pad_to_groups(indices, n);
        auto batch = train::collate(data, indices, phase.kind, pad_id, cfg.pad_to);
        double task_value = 0.0, ret_value = 0.0, loss_value = 0.0;
        train::with_precision(cfg.precision, [&] {
          MuxForwardOptions fo;
          fo.retrieval = true;
          fo.retrieval_fraction = config.retrieval_fraction;
          fo.all_positions = phase.task && kind == train::LabelKind::kPerToken;
          auto out = model->forward(batch.input_ids.to(device), batch.attention_mask.to(device),
                                    batch.token_type_ids.to(device), fo);
          auto ret = retrieval_loss(out.retrieval_logits, out.retrieval_targets);
          at::Tensor loss = ret;
          if (phase.task) {
            auto task_loss = model::head_loss(model->bert->config(), out.task, batch.labels.to(device)).to(torch::kFloat32);
            task_value = task_loss.item<double>();
            loss = config.task_weight * task_loss + config.retrieval_weight * ret;
          }
          loss.backward();
          ret_value = ret.item<double>();
          loss_value = loss.item<double>();
          auto [c, k] = retrieval_hits(out.retrieval_logits.detach(), out.retrieval_targets);
          hits += c;
          counted += k;
        });
        {
          torch::NoGradGuard no_grad;
          for (const auto& [name, m] : masks_on_device) {
            auto* p = bert_params.find(name);
            if (p != nullptr && p->grad().defined()) p->mutable_grad().mul_(m);
          }
          if (cfg.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.max_grad_norm);
        }
        optimizer.step(lr_at(steps));
        optimizer.zero_grad();
        if (!masks_on_device.empty()) prune::apply_mask_tensors(model->bert, masks_on_device);
        ++steps;
        loss_sum += loss_value;
        task_sum += task_value;
        ret_sum += ret_value;
        ++loss_count;
        if (steps % 50 == 0 || steps == phase.total) {
          nlohmann::json line = {{"step", steps}, {"phase", phase.name}, {"split", "train"},
                                 {"loss", loss_sum / loss_count}, {"retrieval_loss", ret_sum / loss_count},
                                 {"retrieval_accuracy", counted > 0 ? static_cast<double>(hits) / counted : 0.0},
                                 {"lr", lr_at(steps - 1)}};
          if (phase.task) line["task_loss"] = task_sum / loss_count;
          append_line(metrics_path, line);
          if (cfg.progress) progress.update(steps, fmt::format("loss {:.4f}", loss_sum / loss_count));
          loss_sum = task_sum = ret_sum = 0.0;
          loss_count = hits = counted = 0;
        } else if (cfg.progress) {
          progress.update(steps);
        }
        if (phase.task && eval_every > 0 && steps % eval_every == 0 && steps != phase.total) {
          evaluate(steps, static_cast<double>(steps) / static_cast<double>(per_epoch));
        }
      }
    }
    progress.finish();
    return per_epoch;
  };

  if (config.warmup_steps > 0) {
    Phase w;
    w.name = "warmup";
    w.data = &warmup_text;
    w.batch_size = config.warmup_batch_size > 0 ? config.warmup_batch_size : cfg.batch_size;
    w.total = config.warmup_steps;
    w.warmup = std::min<int64_t>(config.warmup_steps / 10, 1000);
    w.lr = config.warmup_lr;
    log::info("mux", "retrieval warm-up: {} steps on {} text sequences, N={}", w.total, warmup_text.size(), n);
    run(w);
    const auto& dev = warmup_dev.empty() ? warmup_text : warmup_dev;
    const auto stats = predict_mux(model, dev, pad_id, cfg.batch_size, cfg.precision, cfg.device, true, nullptr);
    result.warmup_metrics = {{"phase", "warmup"}, {"split", "dev"}, {"step", config.warmup_steps}, {"n", n},
                             {"examples", stats.examples}, {"retrieval_accuracy", stats.retrieval_accuracy()}};
    append_line(metrics_path, result.warmup_metrics);
    log::info("mux", "warm-up retrieval accuracy {:.4f} on {} sequences", stats.retrieval_accuracy(), stats.examples);
    model->train();
  }
  int64_t task_steps = 0;
  if (!task_data.empty()) {
    Phase t;
    t.name = "task";
    t.data = &task_data;
    t.kind = kind;
    t.task = true;
    t.batch_size = cfg.batch_size;
    const int64_t per_epoch = std::max<int64_t>(1, (static_cast<int64_t>(task_data.size()) + cfg.batch_size - 1) / cfg.batch_size);
    t.total = Step::parse(cfg.length).resolve(per_epoch);
    t.warmup = Step::parse(cfg.warmup).resolve(per_epoch);
    t.lr = cfg.lr;
    LTH_CHECK(t.total > 0, UsageError, "training length {} is zero steps", cfg.length);
    log::info("mux", "task fine-tuning: {} steps, {} examples, N={}, loss {}·task + {}·retrieval", t.total,
              task_data.size(), n, config.task_weight, config.retrieval_weight);
    run(t);
    task_steps = t.total;
    evaluate(t.total, static_cast<double>(t.total) / static_cast<double>(per_epoch));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.steps = task_steps;
  if (cfg.save_models) save_mux(model, run_dir + "/model", tokenizer_dir);
  nlohmann::json saved = {{"warmup", result.warmup_metrics}, {"final", result.final_metrics},
                          {"best", result.best_metrics},     {"steps", task_steps},
                          {"warmup_steps", config.warmup_steps}, {"seconds", result.seconds}, {"n", n},
                          {"main_metric", hooks.main_metric}};
  write_file_atomic(result_path, saved.dump(2) + "\n");
  return result;
}

}  // namespace lth::mux
