#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "core/file.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/run_identity.h"
#include "core/step.h"
#include "core/torch_compat.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "train/adamw.h"
#include "train/dist.h"

namespace lth::train {
namespace fs = std::filesystem;
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

// The settings that change what training computes, saved in the checkpoint and result.json: a run
// resumed (or skipped) with other settings is refused instead of silently mixing both.
nlohmann::json train_identity(const TrainConfig& c, int64_t world) {
  return {{"length", c.length}, {"lr", c.lr}, {"batch_size", c.batch_size}, {"warmup", c.warmup},
          {"weight_decay", c.weight_decay}, {"max_grad_norm", c.max_grad_norm}, {"grad_accum", c.grad_accum},
          {"seed", c.seed}, {"precision", c.precision}, {"group_by_length", c.group_by_length}, {"pad_to", c.pad_to},
          {"world_size", world}};
}

void check_identity(const nlohmann::json& saved, const nlohmann::json& now, const std::string& path, const char* what) {
  if (saved.is_null()) return;  // written before identities were saved
  const auto diffs = identity_differences(saved, now);
  if (diffs.empty()) return;
  std::string list;
  for (size_t i = 0; i < diffs.size() && i < 4; ++i) list += (i ? ", " : "") + diffs[i];
  if (diffs.size() > 4) list += fmt::format(", and {} more", diffs.size() - 4);
  LTH_FAIL(Error, "{}: {} differs in {}; rerun with the same settings, or use another --out (or --force)", path, what, list);
}

// `rank_rngs`: with data parallelism, every rank's CPU generator state (rank order), so that a
// resumed run draws the same dropout on every rank.
void save_checkpoint(const std::string& run_dir, model::Bert& model, const AdamW& optimizer, const Checkpoint& c,
                     const nlohmann::json& identity, const std::vector<at::Tensor>& rank_rngs = {}) {
  make_dirs(run_dir + "/checkpoint");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, p] : named_parameters(model)) tensors.emplace_back("param." + name, p.detach().to(torch::kCPU));
  for (auto& [name, t] : optimizer.state()) tensors.emplace_back("optim." + name, t.to(torch::kCPU));
  tensors.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  for (size_t r = 1; r < rank_rngs.size(); ++r) tensors.emplace_back("rng.cpu.rank" + std::to_string(r), rank_rngs[r]);
  nlohmann::json meta = {{"steps", c.steps}, {"best", c.best}, {"best_metrics", c.best_metrics}, {"identity", identity}};
  io::save_safetensors(checkpoint_file(run_dir), tensors, {{"lth_trainer", meta.dump()}});
}

bool load_checkpoint(const std::string& run_dir, model::Bert& model, AdamW& optimizer, Checkpoint& c,
                     const nlohmann::json& identity) {
  const std::string path = checkpoint_file(run_dir);
  if (!path_exists(path)) return false;
  io::SafetensorsFile file(path);
  auto meta_it = file.metadata().find("lth_trainer");
  LTH_CHECK(meta_it != file.metadata().end(), IoError, "{}: not an lth training checkpoint", path);
  const auto meta = nlohmann::json::parse(meta_it->second);
  check_identity(meta.value("identity", nlohmann::json()), identity, path, "the interrupted run saved here");
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

// Data parallelism: rank 0's state on every rank (its weights; after a resume also its step, best
// metric, optimizer moments, and each rank's saved generator state). Returns whether rank 0 resumed.
bool sync_start(Dist& dist, model::Bert& model, AdamW& optimizer, Checkpoint& c, bool resumed,
                const std::string& run_dir) {
  torch::NoGradGuard no_grad;
  nlohmann::json meta;
  if (dist.is_main()) {
    meta = {{"resumed", resumed}, {"steps", c.steps}, {"best", c.best}, {"best_metrics", c.best_metrics},
            {"optim", nlohmann::json::array()}};
    for (const auto& [name, t] : optimizer.state()) meta["optim"].push_back(name);
  }
  meta = nlohmann::json::parse(broadcast_string(dist, dist.is_main() ? meta.dump() : std::string()));
  resumed = meta.at("resumed").get<bool>();
  c.steps = meta.at("steps").get<int64_t>();
  c.best = meta.at("best").get<double>();
  c.best_metrics = meta.at("best_metrics");
  for (auto& [name, p] : named_parameters(model)) {
    at::Tensor data = p.detach();
    dist.broadcast(data, 0);
  }
  if (!resumed) return false;
  auto params = model->named_parameters();
  const auto own_state = optimizer.state();
  std::map<std::string, at::Tensor> mine(own_state.begin(), own_state.end());
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& j : meta.at("optim")) {
    const std::string name = j.get<std::string>();
    at::Tensor t;
    if (dist.is_main()) {
      t = mine.at(name).contiguous();
    } else {
      const std::string param = name.substr(name.find('.') + 1);
      auto* p = params.find(param);
      LTH_CHECK(p != nullptr, ShapeError, "rank 0's optimizer state names '{}', which this model does not have", param);
      t = torch::zeros_like(*p);
    }
    dist.broadcast(t, 0);
    state.emplace_back(name, t);
  }
  if (!dist.is_main()) optimizer.load_state(state, c.steps);
  // Generator states: row r = [saved?, state of rank r].
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  const at::Tensor own = generator.get_state();
  at::Tensor rngs = torch::zeros({dist.world_size(), own.numel() + 1}, torch::kUInt8);
  if (dist.is_main()) {
    io::SafetensorsFile file(checkpoint_file(run_dir));
    for (int r = 1; r < dist.world_size(); ++r) {
      const std::string key = "rng.cpu.rank" + std::to_string(r);
      if (!file.contains(key)) continue;
      rngs[r][0] = 1;
      rngs[r].slice(0, 1).copy_(file.load(key).reshape({-1}));
    }
  }
  dist.broadcast(rngs, 0);
  if (!dist.is_main() && rngs[dist.rank()][0].item<int64_t>() != 0) {
    generator.set_state(rngs[dist.rank()].slice(0, 1).clone());
  }
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

void with_precision(const std::string& precision, const std::function<void()>& fn) {
  if (precision == "fp32") {
    fn();
    return;
  }
  LTH_CHECK(precision == "bf16", UsageError, "--precision must be fp32 or bf16, got '{}'", precision);
  const bool was = compat::cpu_autocast_enabled();
  const auto dtype = compat::cpu_autocast_dtype();
  compat::set_cpu_autocast_enabled(true);
  compat::set_cpu_autocast_dtype(at::kBFloat16);
  try {
    fn();
  } catch (...) {
    at::autocast::clear_cache();
    compat::set_cpu_autocast_enabled(was);
    compat::set_cpu_autocast_dtype(dtype);
    throw;
  }
  at::autocast::clear_cache();
  compat::set_cpu_autocast_enabled(was);
  compat::set_cpu_autocast_dtype(dtype);
}

TrainResult train(model::Bert& model, const std::vector<Feature>& data, LabelKind kind, int64_t pad_id,
                  const TrainConfig& cfg, const Hooks& hooks, const std::string& run_dir,
                  const std::string& tokenizer_dir) {
  TrainResult result;
  const std::string result_path = run_dir + "/result.json";
  Dist* dist = cfg.dist.get();
  const bool writer = dist == nullptr || dist->is_main();  // only rank 0 writes files
  const int64_t world = dist ? dist->world_size() : 1;
  std::string done;  // with a group: rank 0's result.json, or empty
  if (dist) done = broadcast_string(*dist, writer && path_exists(result_path) ? read_file(result_path) : std::string());
  if (dist ? !done.empty() : path_exists(result_path)) {
    const auto saved = dist ? nlohmann::json::parse(done) : read_json_file(result_path);
    check_identity(saved.value("identity", nlohmann::json()), train_identity(cfg, world), result_path, "the finished run");
    result.final_metrics = saved.value("final", nlohmann::json::object());
    result.best_metrics = saved.value("best", nlohmann::json::object());
    result.steps = saved.value("steps", int64_t{0});
    result.skipped = true;
    log::info("train", "{} exists: training already done, skipped", result_path);
    return result;
  }
  LTH_CHECK(!data.empty(), Error, "no training examples");
  LTH_CHECK(cfg.batch_size > 0 && cfg.grad_accum > 0, UsageError, "--batch-size and --grad-accum must be positive");
  if (writer) make_dirs(run_dir);
  const torch::Device device(cfg.device);
  model->to(device);
  if (hooks.masks) hooks.masks->apply(model);

  const int64_t global_batch = cfg.batch_size * world;
  const int64_t micro_per_epoch = (static_cast<int64_t>(data.size()) + global_batch - 1) / global_batch;
  const int64_t steps_per_epoch = std::max<int64_t>(1, micro_per_epoch / cfg.grad_accum);
  const int64_t total = Step::parse(cfg.length).resolve(steps_per_epoch);
  const int64_t warmup = Step::parse(cfg.warmup).resolve(steps_per_epoch);
  // 0 (eval_every "0it"): evaluate only at the end of training.
  const int64_t eval_every = cfg.eval_every.empty() ? steps_per_epoch : Step::parse(cfg.eval_every).resolve(steps_per_epoch);
  const int64_t save_every = Step::parse(cfg.save_every).resolve(steps_per_epoch);
  LTH_CHECK(total > 0, UsageError, "training length {} is zero steps", cfg.length);

  AdamWOptions adam;
  adam.lr = cfg.lr;
  adam.weight_decay = cfg.weight_decay;
  AdamW optimizer(named_parameters(model), adam, decays_by_default);
  std::map<std::string, at::Tensor> masks_on_device;
  if (hooks.masks) {
    for (const auto& [name, m] : hooks.masks->tensors) masks_on_device[name] = m.to(device, torch::kFloat32);
  }

  Checkpoint ckpt;
  const std::string metrics_path = run_dir + "/metrics.jsonl";
  const nlohmann::json identity = train_identity(cfg, world);
  bool resumed = writer && load_checkpoint(run_dir, model, optimizer, ckpt, identity);
  if (dist) resumed = sync_start(*dist, model, optimizer, ckpt, resumed, run_dir);
  if (resumed) {
    log::info("train", "resuming {} at step {}/{}", run_dir, ckpt.steps, total);
    if (writer) truncate_metrics(metrics_path, ckpt.steps);
  } else if (writer && path_exists(metrics_path)) {
    fs::remove(metrics_path);
  }

  auto lr_at = [&](int64_t step) {
    if (warmup > 0 && step < warmup) return cfg.lr * static_cast<double>(step) / static_cast<double>(warmup);
    return cfg.lr * std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
  };
  auto evaluate = [&](int64_t steps) {
    if (!hooks.evaluate) return;
    model->eval();
    EvalContext context;
    context.dist = dist;  // tasks::predict splits its batches over the ranks
    nlohmann::json m = hooks.evaluate(model, context);
    model->train();
    m["step"] = steps;
    m["epoch"] = static_cast<double>(steps) / static_cast<double>(steps_per_epoch);
    m["split"] = "dev";
    if (writer) append_line(metrics_path, m);
    result.final_metrics = m;
    const double v = metric_value(m, hooks.main_metric);
    if (v > ckpt.best) {
      ckpt.best = v;
      ckpt.best_metrics = m;
      if (cfg.save_models && writer) model::save_pretrained(model, run_dir + "/best", tokenizer_dir);
    }
  };

  auto checkpoint = [&] {
    std::vector<at::Tensor> rngs;
    if (dist) rngs = dist->all_gather(at::detail::getDefaultCPUGenerator().get_state());
    if (writer) save_checkpoint(run_dir, model, optimizer, ckpt, identity, rngs);
  };

  SignalGuard signals;
  model->train();
  Progress progress("train", total);
  const auto start = std::chrono::steady_clock::now();
  PhaseClock clock;
  int64_t examples = 0;
  double running_loss = 0.0;
  int64_t running_count = 0;
  int64_t steps = ckpt.steps;
  const int64_t start_steps = steps;
  const double comm_before = dist ? dist->comm_seconds() : 0.0;
  while (steps < total) {
    const int64_t epoch = steps / steps_per_epoch;
    const auto batches = epoch_batches(data, global_batch, cfg.seed, epoch, cfg.group_by_length);
    for (int64_t s = steps % steps_per_epoch; s < steps_per_epoch && steps < total; ++s) {
      double step_loss = 0.0;
      for (int64_t a = 0; a < cfg.grad_accum; ++a) {
        const auto& indices = batches[static_cast<size_t>(s * cfg.grad_accum + a)];
        Batch batch = collate(data, indices, kind, pad_id, cfg.pad_to);
        if (hooks.transform_batch) hooks.transform_batch(batch, steps);
        const double share = dist ? shard_batch(batch, kind, *dist) : 1.0;  // this rank's rows of the global batch
        examples += static_cast<int64_t>(indices.size());
        if (share == 0.0) continue;
        with_precision(cfg.precision, [&] {
          model::ForwardOptions fwd;
          at::Tensor labels = batch.labels.to(device);
          if (model->config().head == model::HeadKind::kMaskedLM) {
            fwd.mlm_positions = labels.ne(-100);
            labels = labels.masked_select(fwd.mlm_positions);
          }
          const auto input_ids = batch.input_ids.to(device), attention_mask = batch.attention_mask.to(device),
                     token_type_ids = batch.token_type_ids.to(device);
          const auto end_labels = batch.end_labels.defined() ? batch.end_labels.to(device) : at::Tensor();
          clock.mark(PhaseClock::kData);
          auto out = model->forward(input_ids, attention_mask, token_type_ids, fwd);
          auto loss = model::head_loss(model->config(), out, labels, end_labels);
          loss = loss.to(torch::kFloat32) / static_cast<double>(cfg.grad_accum);
          if (dist) loss = loss * share;
          clock.mark(PhaseClock::kForward);
          loss.backward();
          step_loss += loss.item<double>();
          clock.mark(PhaseClock::kBackward);
        });
      }
      bool stop = false;
      if (dist) {  // average gradients over ranks (before masking and clipping); agree on stopping
        const auto reduced = reduce_gradients(*dist, model->parameters(), step_loss, g_signal != 0);
        step_loss = reduced.loss;
        stop = reduced.stop;
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
      clock.mark(PhaseClock::kClip);
      optimizer.step(lr_at(steps));
      optimizer.zero_grad();
      if (!masks_on_device.empty()) prune::apply_mask_tensors(model, masks_on_device);
      clock.mark(PhaseClock::kOptimizer);
      ++steps;
      running_loss += step_loss;
      ++running_count;
      if (hooks.after_step) hooks.after_step(steps, model);
      if (steps % 50 == 0 || steps == total) {
        if (writer) append_line(metrics_path, {{"step", steps}, {"split", "train"}, {"loss", running_loss / running_count},
                                   {"lr", lr_at(steps - 1)}});
        if (cfg.progress && writer) progress.update(steps, fmt::format("loss {:.4f}", running_loss / running_count));
        running_loss = 0.0;
        running_count = 0;
      } else if (cfg.progress && writer) {
        progress.update(steps);
      }
      clock.mark(PhaseClock::kData);  // metrics and progress output
      if (eval_every > 0 && steps % eval_every == 0 && steps != total) {
        evaluate(steps);
        clock.mark(PhaseClock::kEval);
      }
      ckpt.steps = steps;
      if (dist ? stop : g_signal != 0) {
        checkpoint();
        progress.finish();
        throw Interrupted(fmt::format("interrupted by signal {} at step {}/{}; checkpoint saved in {}/checkpoint; "
                                      "run the same command again to resume",
                                      g_signal.load(), steps, total, run_dir));
      }
      if (save_every > 0 && steps % save_every == 0 && steps != total) {
        checkpoint();
        clock.mark(PhaseClock::kCheckpoint);
      }
    }
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.examples_per_second = result.seconds > 0 ? static_cast<double>(examples) / result.seconds : 0.0;
  result.steps = steps;
  if (dist) {
    const double comm = dist->comm_seconds() - comm_before;
    log::info("dist", "rank {}: {:.2f}s of {:.2f}s training in collectives ({:.1f}%)", dist->rank(), comm, result.seconds,
              result.seconds > 0 ? 100.0 * comm / result.seconds : 0.0);
  }
  clock.restart();
  evaluate(steps);
  clock.mark(PhaseClock::kEval);
  if (cfg.profile) clock.log(steps - start_steps);
  if (cfg.save_models && writer) model::save_pretrained(model, run_dir + "/model", tokenizer_dir);
  result.best_metrics = ckpt.best_metrics;
  if (!writer) return result;
  nlohmann::json saved = {{"final", result.final_metrics}, {"best", result.best_metrics}, {"steps", steps},
                          {"seconds", result.seconds}, {"examples_per_second", result.examples_per_second},
                          {"resumed_from", start_steps}, {"identity", identity}};
  write_file_atomic(result_path, saved.dump(2) + "\n");
  std::error_code ec;
  fs::remove_all(run_dir + "/checkpoint", ec);
  return result;
}

}  // namespace lth::train
