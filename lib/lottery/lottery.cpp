#include "lottery/lottery.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/step.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "lottery/distributed.h"
#include "model/load.h"
#include "model/names.h"
#include "prune/run_layout.h"
#include "tokenize/tokenizer.h"
#include "train/dist.h"

namespace lth::lottery {
namespace {

using tasks::Task;
using tasks::TaskOptions;

prune::NamedTensors parameters_of(model::Bert& model) {
  prune::NamedTensors out;
  for (auto& item : model->named_parameters()) out[item.key()] = item.value();
  return out;
}

// Copies encoder tensors (not the head) from `source` into the model.
void copy_encoder(model::Bert& model, const prune::NamedTensors& source, const std::string& where) {
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    if (model::names::is_head(name)) continue;
    auto it = source.find(name);
    LTH_CHECK(it != source.end(), IoError, "{}: no tensor '{}'", where, name);
    item.value().copy_(it->second);
  }
}

model::Bert load_for_task(const std::string& dir, Task& task, uint64_t seed, model::LoadReport* report = nullptr) {
  torch::manual_seed(seed);  // the new head is drawn from the seed: the same head at every level
  model::LoadOptions options;
  options.head = task.head();
  if (!task.labels().empty()) options.labels = task.labels();
  return model::load_pretrained(dir, options, report);
}

std::unique_ptr<Task> load_task(const std::string& model_dir, const std::string& name, const TaskOptions& options,
                                std::shared_ptr<const tokenize::Tokenizer> tok) {
  TaskOptions topts = options;
  topts.max_length = model::fit_max_length(model_dir, topts.max_length);
  return tasks::make_task(name, topts, tok);
}

// The prunable set over θ0's parameters; fills imp.new_parameters (and `hashed` where they change the result).
std::vector<std::string> prunable_set(const LotteryConfig& cfg, const prune::NamedTensors& theta0,
                                      const model::LoadReport& load_report, prune::ImpConfig& imp, nlohmann::json& hashed) {
  std::vector<std::string> names;
  std::vector<int64_t> dims;
  for (const auto& [name, t] : theta0) {
    names.push_back(name);
    dims.push_back(t.dim());
  }
  auto prunable = prune::prunable_names(names, dims, cfg.include, cfg.exclude);
  // Matrices of the prunable set that the checkpoint lacks (a pooler, a new head) are random, not
  // pretrained: ranked by magnitude against pretrained weights they would be pruned first. They stay
  // dense unless --prune-new-params. Where that changes the result (θ0 lacks one), it is part of the
  // run's identity; where it does not, the run hash is what it was before this default existed.
  for (const auto& name : load_report.new_parameters) {
    if (std::find(prunable.begin(), prunable.end(), name) != prunable.end()) imp.new_parameters.push_back(name);
  }
  std::sort(imp.new_parameters.begin(), imp.new_parameters.end());
  if (!imp.new_parameters.empty() && !imp.prune_new_params) {
    for (const auto& name : imp.new_parameters) prunable.erase(std::find(prunable.begin(), prunable.end(), name));
    LTH_CHECK(!prunable.empty(), UsageError,
              "{}: every matrix of the prunable set is missing from the checkpoint ({}); --prune-new-params prunes them",
              cfg.model, fmt::join(imp.new_parameters, ", "));
    hashed["unpruned_new_parameters"] = imp.new_parameters;
    log::info("prune", "not pruning {}: not in {} (initialised at load, not pretrained; --prune-new-params prunes them)",
              fmt::join(imp.new_parameters, ", "), cfg.model);
  } else if (!imp.new_parameters.empty()) {
    log::warn("prune", "pruning {} although {} lacks them (random, not pretrained: magnitude ranking prunes them first)",
              fmt::join(imp.new_parameters, ", "), cfg.model);
  }
  return prunable;
}

// Trains one IMP level for real: the level's starting weights with the task's head re-drawn from the
// seed, the mask kept exact by the trainer; returns the final metrics and the trained prunable weights.
prune::TrainLevelFn level_trainer(const LotteryConfig& cfg, Task* task, std::shared_ptr<const tokenize::Tokenizer> tok,
                                  const std::vector<train::Feature>& features, const std::vector<std::string>& prunable,
                                  const prune::RunLayout& layout) {
  train::Dist* dist = cfg.train.dist.get();
  const bool writer = dist == nullptr || dist->is_main();
  const int64_t world = dist ? dist->world_size() : 1;
  return [&cfg, task, tok, &features, &prunable, layout, writer, world](const prune::LevelSpec& spec) {
    model::Bert model{nullptr};
    // Ranks other than 0 may not see rank 0's files (another machine): they start from θ0 and get
    // rank 0's weights when training starts.
    const bool local = writer || (spec.init == prune::LevelInit::kContinue ? path_exists(spec.continue_dir)
                                                                           : path_exists(layout.rewind()));
    if (spec.init == prune::LevelInit::kContinue && local) {
      model = load_for_task(spec.continue_dir, *task, cfg.train.seed);
    } else {
      model = load_for_task(cfg.model, *task, cfg.train.seed);
      if (spec.init == prune::LevelInit::kRewind && local) {
        io::SafetensorsFile rewind(layout.rewind());
        prune::NamedTensors weights;
        for (auto& [n, t] : rewind.load_all()) weights[n] = t;
        copy_encoder(model, weights, rewind.path());
      } else if (spec.init == prune::LevelInit::kRandom) {
        torch::manual_seed(cfg.train.seed + 1);
        model->init_all();
        torch::manual_seed(cfg.train.seed);
        model->init_head(true);
      }
    }
    train::Hooks hooks = task_hooks(*task, cfg.train.seed);
    hooks.masks = spec.mask;
    if (!spec.capture_rewind_to.empty() && writer) {
      const int64_t global_batch = cfg.train.batch_size * world;
      const int64_t per_epoch = std::max<int64_t>(
          1, ((static_cast<int64_t>(features.size()) + global_batch - 1) / global_batch) / cfg.train.grad_accum);
      const int64_t at = Step::parse(cfg.imp.rewind).resolve(per_epoch);
      const std::string path = spec.capture_rewind_to;
      hooks.after_step = [at, path](int64_t steps, model::Bert& m) {
        if (steps != at) return;
        std::vector<std::pair<std::string, at::Tensor>> list;
        for (auto& item : m->named_parameters()) list.emplace_back(item.key(), item.value().detach().to(torch::kCPU).clone());
        io::save_safetensors(path, list, {{"rewind_step", std::to_string(at)}});
      };
    }
    train::TrainConfig tcfg = cfg.train;
    auto r = train::train(model, features, task->label_kind(), tok->pad_id(), tcfg, hooks, spec.dir, cfg.model);
    prune::LevelOutcome out;
    out.metrics = r.final_metrics;
    const auto params = parameters_of(model);
    for (const auto& name : prunable) out.trained[name] = params.at(name).detach().to(torch::kCPU).clone();
    return out;
  };
}

// config.json: the resolved config, its hash, the hashed values and the matrices θ0 lacks.
void write_config(const LotteryConfig& cfg, const prune::ImpConfig& imp, const nlohmann::json& hashed,
                  const prune::RunLayout& layout) {
  nlohmann::json config_json = cfg.resolved;
  config_json["hash"] = imp.config_hash;
  config_json["hashed"] = hashed;
  config_json["new_parameters"] = imp.new_parameters;
  if (!path_exists(layout.config())) write_file_atomic(layout.config(), config_json.dump(2) + "\n");
}

}  // namespace

std::string run_name(const std::string& task, const nlohmann::json& hashed) {
  return prune::RunLayout::run_name(task, sha256_hex(hashed.dump()).substr(0, 10));
}

LotteryResult run_lottery(const LotteryConfig& cfg) {
  LTH_CHECK(!cfg.model.empty() && !cfg.task.empty() && !cfg.runs_dir.empty(), UsageError,
            "--model, --task and --out are required");
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(cfg.model);
  auto task = load_task(cfg.model, cfg.task, cfg.task_options, tok);

  // θ0: the pretrained encoder (the head of a level is re-drawn from the seed, see load_for_task).
  model::LoadReport load_report;
  model::Bert theta0_model = load_for_task(cfg.model, *task, cfg.train.seed, &load_report);
  prune::NamedTensors theta0;
  for (auto& [name, t] : parameters_of(theta0_model)) theta0[name] = t.detach().clone();
  prune::ImpConfig imp = cfg.imp;
  nlohmann::json hashed = cfg.hashed;
  const auto prunable = prunable_set(cfg, theta0, load_report, imp, hashed);
  imp.fingerprint = prune::fingerprint(theta0, prunable);

  imp.task = cfg.task;
  imp.metric = task->main_metric();
  imp.config_hash = sha256_hex(hashed.dump()).substr(0, 10);
  imp.seed = cfg.train.seed;
  LotteryResult result;
  result.run_dir = cfg.runs_dir + "/" + prune::RunLayout::run_name(cfg.task, imp.config_hash);
  imp.run_dir = result.run_dir;
  const prune::RunLayout layout(result.run_dir);
  train::Dist* dist = cfg.train.dist.get();
  if (dist == nullptr || dist->is_main()) {
    make_dirs(layout.dir());
    write_config(cfg, imp, hashed, layout);
  }

  const auto features = task->train_features(cfg.train.seed);
  log::info("prune", "{} on {}: {} training examples, {} prunable matrices, run {}", cfg.model, cfg.task,
            features.size(), prunable.size(), result.run_dir);
  const auto train_level = level_trainer(cfg, task.get(), tok, features, prunable, layout);
  result.summary = dist == nullptr ? prune::run_imp(imp, theta0, prunable, train_level)
                                   : run_imp_distributed(*dist, imp, theta0, prunable, train_level);
  return result;
}

nlohmann::json run_transfer(const TransferConfig& cfg) {
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(cfg.model);
  auto task = load_task(cfg.model, cfg.task, cfg.task_options, tok);
  prune::Mask mask = prune::load_mask(cfg.mask);
  model::Bert model = load_for_task(cfg.model, *task, cfg.train.seed);
  mask.check_fits(model, cfg.mask);
  const auto features = task->train_features(cfg.train.seed);
  train::Hooks hooks = task_hooks(*task, cfg.train.seed);
  hooks.masks = &mask;
  if (cfg.train.dist == nullptr || cfg.train.dist->is_main()) make_dirs(cfg.out);
  log::info("transfer", "{} (sparsity {:.2f}%) -> {} on {}", cfg.mask, 100.0 * mask.sparsity(), cfg.model, cfg.task);
  auto r = train::train(model, features, task->label_kind(), tok->pad_id(), cfg.train, hooks, cfg.out, cfg.model);
  nlohmann::json out = r.final_metrics;
  out["mask"] = cfg.mask;
  out["main_metric"] = task->main_metric();
  out["sparsity"] = mask.sparsity();
  return out;
}

}  // namespace lth::lottery
