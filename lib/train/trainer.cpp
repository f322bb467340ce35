#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "core/file.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/step.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "train/adamw.h"

namespace lth::train {
namespace fs = std::filesystem;
namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

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

std::vector<std::pair<std::string, at::Tensor>> named_parameters(model::Bert& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

struct Checkpoint {
  int64_t steps = 0;
  double best = -1e300;
  nlohmann::json best_metrics = nlohmann::json::object();
};

std::string checkpoint_file(const std::string& run_dir) { return run_dir + "/checkpoint/state.safetensors"; }

void save_checkpoint(const std::string& run_dir, model::Bert& model, const AdamW& optimizer, const Checkpoint& c) {
  make_dirs(run_dir + "/checkpoint");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, p] : named_parameters(model)) tensors.emplace_back("param." + name, p.detach().to(torch::kCPU));
  for (auto& [name, t] : optimizer.state()) tensors.emplace_back("optim." + name, t.to(torch::kCPU));
  tensors.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  nlohmann::json meta = {{"steps", c.steps}, {"best", c.best}, {"best_metrics", c.best_metrics}};
  io::save_safetensors(checkpoint_file(run_dir), tensors, {{"lth_trainer", meta.dump()}});
}

bool load_checkpoint(const std::string& run_dir, model::Bert& model, AdamW& optimizer, Checkpoint& c) {
  const std::string path = checkpoint_file(run_dir);
  if (!path_exists(path)) return false;
  io::SafetensorsFile file(path);
  auto meta_it = file.metadata().find("lth_trainer");
  LTH_CHECK(meta_it != file.metadata().end(), IoError, "{}: not an lth training checkpoint", path);
  const auto meta = nlohmann::json::parse(meta_it->second);
  c.steps = meta.at("steps").get<int64_t>();
  c.best = meta.at("best").get<double>();
  c.best_metrics = meta.at("best_metrics");
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : named_parameters(model)) {
    LTH_CHECK(file.contains("param." + name), IoError, "{}: no tensor for parameter '{}' (another model?)", path, name);
    auto t = file.load("param." + name);
    LTH_CHECK(t.sizes() == p.sizes(), ShapeError, "{}: '{}' has another shape than the model's", path, name);
    p.copy_(t);
  }
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& e : file.entries()) {
    if (e.name.rfind("optim.", 0) == 0) state.emplace_back(e.name.substr(6), file.load(e.name));
  }
  optimizer.load_state(state, c.steps);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(file.load("rng.cpu"));
  return true;
}

// Keeps only metrics.jsonl lines up to `steps` (a resumed run rewrites what came after its checkpoint).
void truncate_metrics(const std::string& path, int64_t steps) {
  if (!path_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) > steps) continue;
    } catch (const nlohmann::json::exception&) {
      continue;  // a torn last line from a kill
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

void append_line(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::app);
  out << j.dump() << "\n";
  out.flush();
}

double metric_value(const nlohmann::json& metrics, const std::string& name) {
  auto it = metrics.find(name);
  return (it != metrics.end() && it->is_number()) ? it->get<double>() : -1e300;
}

}  // namespace

void apply_masks(model::Bert& model, const MaskMap& masks) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  for (const auto& [name, mask] : masks) {
    auto* p = params.find(name);
    LTH_CHECK(p != nullptr, ShapeError, "mask names '{}', which the model does not have", name);
    p->mul_(mask.to(p->device(), p->scalar_type()));
  }
}

void with_precision(const std::string& precision, const std::function<void()>& fn) {
  if (precision == "fp32") {
    fn();
    return;
  }
  LTH_CHECK(precision == "bf16", UsageError, "--precision must be fp32 or bf16, got '{}'", precision);
  const bool was = at::autocast::is_cpu_enabled();
  const auto dtype = at::autocast::get_autocast_cpu_dtype();
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  try {
    fn();
  } catch (...) {
    at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(was);
    at::autocast::set_autocast_cpu_dtype(dtype);
    throw;
  }
  at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(was);
  at::autocast::set_autocast_cpu_dtype(dtype);
}

TrainResult train(model::Bert& model, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id,
                  const TrainConfig& cfg, const Hooks& hooks, const std::string& run_dir,
                  const std::string& tokenizer_dir) {
  TrainResult result;
  const std::string result_path = run_dir + "/result.json";
  if (path_exists(result_path)) {
    const auto saved = read_json_file(result_path);
    result.final_metrics = saved.value("final", nlohmann::json::object());
    result.best_metrics = saved.value("best", nlohmann::json::object());
    result.steps = saved.value("steps", int64_t{0});
    result.skipped = true;
    log::info("train", "{} exists: training already done, skipped", result_path);
    return result;
  }
  LTH_CHECK(!data.empty(), Error, "no training examples");
  LTH_CHECK(cfg.batch_size > 0 && cfg.grad_accum > 0, UsageError, "--batch-size and --grad-accum must be positive");
  make_dirs(run_dir);
  const torch::Device device(cfg.device);
  model->to(device);
  if (hooks.masks) apply_masks(model, *hooks.masks);

  const int64_t micro_per_epoch = (static_cast<int64_t>(data.size()) + cfg.batch_size - 1) / cfg.batch_size;
  const int64_t steps_per_epoch = std::max<int64_t>(1, micro_per_epoch / cfg.grad_accum);
  const int64_t total = Step::parse(cfg.length).resolve(steps_per_epoch);
  const int64_t warmup = Step::parse(cfg.warmup).resolve(steps_per_epoch);
  const int64_t eval_every = cfg.eval_every.empty() ? steps_per_epoch : Step::parse(cfg.eval_every).resolve(steps_per_epoch);
  const int64_t save_every = Step::parse(cfg.save_every).resolve(steps_per_epoch);
  LTH_CHECK(total > 0, UsageError, "training length {} is zero steps", cfg.length);

  AdamWOptions adam;
  adam.lr = cfg.lr;
  adam.weight_decay = cfg.weight_decay;
  AdamW optimizer(named_parameters(model), adam, decays_by_default);
  std::map<std::string, at::Tensor> masks_on_device;
  if (hooks.masks) {
    for (const auto& [name, m] : *hooks.masks) masks_on_device[name] = m.to(device, torch::kFloat32);
  }

  Checkpoint ckpt;
  const std::string metrics_path = run_dir + "/metrics.jsonl";
  if (load_checkpoint(run_dir, model, optimizer, ckpt)) {
    log::info("train", "resuming {} at step {}/{}", run_dir, ckpt.steps, total);
    truncate_metrics(metrics_path, ckpt.steps);
  } else if (path_exists(metrics_path)) {
    fs::remove(metrics_path);
  }

  auto lr_at = [&](int64_t step) {
    if (warmup > 0 && step < warmup) return cfg.lr * static_cast<double>(step) / static_cast<double>(warmup);
    return cfg.lr * std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
  };
  auto evaluate = [&](int64_t steps) {
    if (!hooks.evaluate) return;
    model->eval();
    nlohmann::json m = hooks.evaluate(model);
    model->train();
    m["step"] = steps;
    m["epoch"] = static_cast<double>(steps) / static_cast<double>(steps_per_epoch);
    m["split"] = "dev";
    append_line(metrics_path, m);
    result.final_metrics = m;
    const double v = metric_value(m, hooks.main_metric);
    if (v > ckpt.best) {
      ckpt.best = v;
      ckpt.best_metrics = m;
      if (cfg.save_models) model::save_pretrained(model, run_dir + "/best", tokenizer_dir);
    }
  };

  SignalGuard signals;
  model->train();
  Progress progress("train", total);
  const auto start = std::chrono::steady_clock::now();
  int64_t examples = 0;
  double running_loss = 0.0;
  int64_t running_count = 0;
  int64_t steps = ckpt.steps;
  const int64_t start_steps = steps;
  while (steps < total) {
    const int64_t epoch = steps / steps_per_epoch;
    const auto batches = epoch_batches(data, cfg.batch_size, cfg.seed, epoch, cfg.group_by_length);
    for (int64_t s = steps % steps_per_epoch; s < steps_per_epoch && steps < total; ++s) {
      double step_loss = 0.0;
      for (int64_t a = 0; a < cfg.grad_accum; ++a) {
        const auto& indices = batches[static_cast<size_t>(s * cfg.grad_accum + a)];
        Batch batch = collate(data, indices, kind, pad_id, cfg.pad_to);
        if (hooks.transform_batch) hooks.transform_batch(batch, steps);
        with_precision(cfg.precision, [&] {
          model::ForwardOptions fwd;
          at::Tensor labels = batch.labels.to(device);
          if (model->config().head == model::HeadKind::kMaskedLM) {
            fwd.mlm_positions = labels.ne(-100);
            labels = labels.masked_select(fwd.mlm_positions);
          }
          auto out = model->forward(batch.input_ids.to(device), batch.attention_mask.to(device),
                                    batch.token_type_ids.to(device), fwd);
          auto loss = model::head_loss(model->config(), out, labels,
                                       batch.end_labels.defined() ? batch.end_labels.to(device) : at::Tensor());
          loss = loss.to(torch::kFloat32) / static_cast<double>(cfg.grad_accum);
          loss.backward();
          step_loss += loss.item<double>();
        });
        examples += static_cast<int64_t>(indices.size());
      }
      {
        torch::NoGradGuard no_grad;
        auto params = model->named_parameters();
        for (const auto& [name, m] : masks_on_device) {
          auto* p = params.find(name);
          if (p != nullptr && p->grad().defined()) p->mutable_grad().mul_(m);
        }
        if (cfg.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.max_grad_norm);
      }
      optimizer.step(lr_at(steps));
      optimizer.zero_grad();
      if (!masks_on_device.empty()) apply_masks(model, masks_on_device);
      ++steps;
      running_loss += step_loss;
      ++running_count;
      if (hooks.after_step) hooks.after_step(steps, model);
      if (steps % 50 == 0 || steps == total) {
        append_line(metrics_path, {{"step", steps}, {"split", "train"}, {"loss", running_loss / running_count},
                                   {"lr", lr_at(steps - 1)}});
        if (cfg.progress) progress.update(steps, fmt::format("loss {:.4f}", running_loss / running_count));
        running_loss = 0.0;
        running_count = 0;
      } else if (cfg.progress) {
        progress.update(steps);
      }
      if (steps % eval_every == 0 && steps != total) evaluate(steps);
      ckpt.steps = steps;
      if (g_signal != 0) {
        save_checkpoint(run_dir, model, optimizer, ckpt);
        progress.finish();
        throw Interrupted(fmt::format("interrupted by signal {} at step {}/{}; checkpoint saved in {}/checkpoint; "
                                      "run the same command again to resume",
                                      g_signal.load(), steps, total, run_dir));
      }
      if (save_every > 0 && steps % save_every == 0 && steps != total) save_checkpoint(run_dir, model, optimizer, ckpt);
    }
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.examples_per_second = result.seconds > 0 ? static_cast<double>(examples) / result.seconds : 0.0;
  result.steps = steps;
  evaluate(steps);
  if (cfg.save_models) model::save_pretrained(model, run_dir + "/model", tokenizer_dir);
  result.best_metrics = ckpt.best_metrics;
  nlohmann::json saved = {{"final", result.final_metrics}, {"best", result.best_metrics}, {"steps", steps},
                          {"seconds", result.seconds}, {"examples_per_second", result.examples_per_second},
                          {"resumed_from", start_steps}};
  write_file_atomic(result_path, saved.dump(2) + "\n");
  std::error_code ec;
  fs::remove_all(run_dir + "/checkpoint", ec);
  return result;
}

}  // namespace lth::train
