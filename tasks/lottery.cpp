#include "tasks/lottery.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/step.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "model/names.h"
#include "tokenize/tokenizer.h"
#include "train/dist.h"

namespace lth::tasks {
namespace {

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


// Data-parallel IMP: rank 0 runs the driver (it alone reads and writes the run directory, so it
// alone decides what is done); before each level it trains, it sends the level (directory, how to
// initialise, the mask it computed) to the other ranks, which train alongside it, then "done".
std::string level_message(const prune::LevelSpec& spec) {
  nlohmann::json names = nlohmann::json::array();
  for (const auto& [name, t] : spec.mask->tensors) names.push_back(name);
  return nlohmann::json{{"op", "train"}, {"dir", spec.dir}, {"init", static_cast<int>(spec.init)},
                        {"continue_dir", spec.continue_dir}, {"capture", spec.capture_rewind_to}, {"mask", names}}
      .dump();
}

void broadcast_mask(train::Dist& dist, prune::Mask& mask, const nlohmann::json& names, const prune::NamedTensors& theta0) {
  for (const auto& j : names) {
    const std::string name = j.get<std::string>();
    at::Tensor t = dist.is_main() ? mask.tensors.at(name).to(torch::kUInt8).contiguous()
                                  : torch::empty(theta0.at(name).sizes(), torch::kUInt8);
    dist.broadcast(t, 0);
    if (!dist.is_main()) mask.tensors[name] = t.to(torch::kBool);
  }
}

}  // namespace

std::string run_name(const std::string& task, const nlohmann::json& hashed) {
  std::string slug = task;
  for (char& c : slug)
    if (c == '/' || c == '.') c = '-';
  return slug + "-" + sha256_hex(hashed.dump()).substr(0, 10);
}

LotteryResult run_lottery(const LotteryConfig& cfg) {
  LTH_CHECK(!cfg.model.empty() && !cfg.task.empty() && !cfg.runs_dir.empty(), UsageError,
            "--model, --task and --out are required");
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(cfg.model);
  TaskOptions topts = cfg.task_options;
  topts.max_length = model::fit_max_length(cfg.model, topts.max_length);
  auto task = make_task(cfg.task, topts, tok);

  // θ0: the pretrained encoder (the head of a level is re-drawn from the seed, see load_for_task).
  model::LoadReport load_report;
  model::Bert theta0_model = load_for_task(cfg.model, *task, cfg.train.seed, &load_report);
  prune::NamedTensors theta0;
  for (auto& [name, t] : parameters_of(theta0_model)) theta0[name] = t.detach().clone();
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
  prune::ImpConfig imp = cfg.imp;
  nlohmann::json hashed = cfg.hashed;
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
  imp.fingerprint = prune::fingerprint(theta0, prunable);

  imp.task = cfg.task;
  imp.metric = task->main_metric();
  imp.config_hash = sha256_hex(hashed.dump()).substr(0, 10);
  imp.seed = cfg.train.seed;
  LotteryResult result;
  result.run_dir = cfg.runs_dir + "/" + run_name(cfg.task, hashed);
  imp.run_dir = result.run_dir;
  train::Dist* dist = cfg.train.dist.get();
  const bool writer = dist == nullptr || dist->is_main();
  const int64_t world = dist ? dist->world_size() : 1;
  if (writer) make_dirs(result.run_dir);
  nlohmann::json config_json = cfg.resolved;
  config_json["hash"] = imp.config_hash;
  config_json["hashed"] = hashed;
  config_json["new_parameters"] = imp.new_parameters;
  const std::string config_path = result.run_dir + "/config.json";
  if (writer && !path_exists(config_path)) write_file_atomic(config_path, config_json.dump(2) + "\n");

  const auto features = task->train_features();
  log::info("prune", "{} on {}: {} training examples, {} prunable matrices, run {}", cfg.model, cfg.task,
            features.size(), prunable.size(), result.run_dir);

  auto train_level = [&](const prune::LevelSpec& spec) {
    model::Bert model{nullptr};
    // Ranks other than 0 may not see rank 0's files (another machine): they start from θ0 and get
    // rank 0's weights when training starts.
    const bool local = writer || (spec.init == prune::LevelInit::kContinue ? path_exists(spec.continue_dir)
                                                                           : path_exists(imp.run_dir + "/rewind.safetensors"));
    if (spec.init == prune::LevelInit::kContinue && local) {
      model = load_for_task(spec.continue_dir, *task, cfg.train.seed);
    } else {
      model = load_for_task(cfg.model, *task, cfg.train.seed);
      if (spec.init == prune::LevelInit::kRewind && local) {
        io::SafetensorsFile rewind(imp.run_dir + "/rewind.safetensors");
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
    train::Hooks hooks = task_hooks(*task);
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
  if (dist == nullptr) {
    result.summary = prune::run_imp(imp, theta0, prunable, train_level);
    return result;
  }
  if (dist->is_main()) {
    try {
      result.summary = prune::run_imp(imp, theta0, prunable, [&](const prune::LevelSpec& spec) {
        const nlohmann::json message = nlohmann::json::parse(broadcast_string(*dist, level_message(spec)));
        prune::Mask mask = *spec.mask;
        broadcast_mask(*dist, mask, message.at("mask"), theta0);
        return train_level(spec);
      });
    } catch (...) {
      log::warn("prune", "rank 0 failed: the other ranks stop when their launcher stops them");
      throw;
    }
    broadcast_string(*dist, nlohmann::json{{"op", "done"}, {"summary", result.summary}}.dump());
    return result;
  }
  for (;;) {
    const auto message = nlohmann::json::parse(broadcast_string(*dist, std::string()));
    if (message.at("op") == "done") {
      result.summary = message.at("summary");
      return result;
    }
    prune::Mask mask;
    broadcast_mask(*dist, mask, message.at("mask"), theta0);
    prune::LevelSpec spec;
    spec.dir = message.at("dir").get<std::string>();
    spec.init = static_cast<prune::LevelInit>(message.at("init").get<int>());
    spec.continue_dir = message.at("continue_dir").get<std::string>();
    spec.capture_rewind_to = message.at("capture").get<std::string>();
    spec.mask = &mask;
    train_level(spec);
  }
}

nlohmann::json run_transfer(const TransferConfig& cfg) {
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(cfg.model);
  TaskOptions topts = cfg.task_options;
  topts.max_length = model::fit_max_length(cfg.model, topts.max_length);
  auto task = make_task(cfg.task, topts, tok);
  prune::Mask mask = prune::load_mask(cfg.mask);
  model::Bert model = load_for_task(cfg.model, *task, cfg.train.seed);
  mask.check_fits(model, cfg.mask);
  const auto features = task->train_features();
  train::Hooks hooks = task_hooks(*task);
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

}  // namespace lth::tasks
