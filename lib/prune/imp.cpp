#include "prune/imp.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "prune/matching.h"

namespace lth::prune {
namespace {

std::string level_dir(const std::string& root, int level) { return root + "/level_" + std::to_string(level); }

double metric_of(const nlohmann::json& metrics, const std::string& name) {
  auto it = metrics.find(name);
  LTH_CHECK(it != metrics.end() && it->is_number(), Error, "training returned no '{}' metric", name);
  return it->get<double>();
}

void save_named(const std::string& path, const NamedTensors& tensors) {
  std::vector<std::pair<std::string, at::Tensor>> list;
  for (const auto& [n, t] : tensors) list.emplace_back(n, t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  io::save_safetensors(path, list);
}

NamedTensors load_named(const std::string& path) {
  io::SafetensorsFile f(path);
  NamedTensors out;
  for (auto& [n, t] : f.load_all()) out[n] = t;
  return out;
}

// Trains one level unless its outputs exist; returns (metrics, trained prunable weights).
LevelOutcome run_level(const LevelSpec& spec, const ImpConfig& config, const TrainLevelFn& train_level) {
  const std::string result = spec.dir + "/result.json";
  const std::string trained = spec.dir + "/trained_prunable.safetensors";
  if (path_exists(result) && path_exists(trained)) {
    LevelOutcome out;
    out.metrics = read_json_file(result).value("final", nlohmann::json::object());
    out.trained = load_named(trained);
    return out;
  }
  if (path_exists(result)) {
    // Killed after training wrote result.json but before the trained weights were saved: the trainer
    // would skip the level and hand back untrained weights, so the next mask would rank those. Train
    // the level again (it is deterministic).
    log::warn("prune", "{}: result.json without trained_prunable.safetensors; training the level again", spec.dir);
    std::error_code ec;
    std::filesystem::remove(result, ec);
    LTH_CHECK(!ec, IoError, "{}: cannot remove: {}", result, ec.message());
  }
  make_dirs(spec.dir);
  LevelOutcome out = train_level(spec);
  save_named(trained, out.trained);
  (void)config;
  return out;
}

// The mask of a level: read when it exists (resume), else computed and written.
Mask level_mask(const std::string& dir, const ImpConfig& config, int level, const std::function<Mask()>& compute) {
  const std::string path = dir + "/mask.safetensors";
  if (path_exists(path)) return load_mask(path);
  make_dirs(dir);
  Mask m = compute();
  m.metadata["base_fingerprint"] = config.fingerprint;
  m.metadata["task"] = config.task;
  m.metadata["level"] = std::to_string(level);
  m.metadata["strategy"] = strategy_name(config.strategy);
  m.metadata["config_hash"] = config.config_hash;
  if (!config.new_parameters.empty()) {
    m.metadata[config.prune_new_params ? "pruned_new_parameters" : "unpruned_new_parameters"] =
        fmt::format("{}", fmt::join(config.new_parameters, ","));
  }
  save_mask(path, m);
  nlohmann::json stats = m.stats();
  stats["level"] = level;
  write_file_atomic(dir + "/sparsity.json", stats.dump(2) + "\n");
  return m;
}

nlohmann::json row(int level, const Mask& mask, double metric, double dense) {
  return {{"level", level}, {"sparsity", mask.sparsity()}, {"metric", metric}, {"delta", metric - dense}};
}

}  // namespace

nlohmann::json run_imp(const ImpConfig& config, const NamedTensors& theta0, const std::vector<std::string>& prunable,
                       const TrainLevelFn& train_level) {
  for (const auto& b : config.baselines) {
    LTH_CHECK(b == "random" || b == "reinit" || b == "oneshot" || b == "standard", UsageError,
              "--baselines: unknown '{}' (random, reinit, oneshot, standard)", b);
  }
  make_dirs(config.run_dir);
  const bool late_rewind = config.rewind != "init";
  const int64_t total = full_mask(theta0, prunable).total();

  // The trunk: level 0 dense, then prune -> rewind -> train.
  std::vector<Mask> masks;
  std::vector<double> metrics;
  nlohmann::json levels = nlohmann::json::array();
  double dense = 0.0;
  NamedTensors previous_trained;
  for (int level = 0; level <= config.levels; ++level) {
    const std::string dir = level_dir(config.run_dir, level);
    const int64_t target = pruned_at_level(total, level, config.rate, config.schedule);
    Mask mask = level_mask(dir, config, level, [&] {
      if (level == 0) return full_mask(theta0, prunable);
      return prune_to(masks.back(), previous_trained, target, config.strategy, config.seed + static_cast<uint64_t>(level));
    });
    LevelSpec spec;
    spec.dir = dir;
    spec.mask = &mask;
    spec.init = (level > 0 && late_rewind) ? LevelInit::kRewind : LevelInit::kTheta0;
    if (level == 0 && late_rewind) spec.capture_rewind_to = config.run_dir + "/rewind.safetensors";
    if (level > 0 && late_rewind) {
      LTH_CHECK(path_exists(config.run_dir + "/rewind.safetensors"), IoError,
                "{}/rewind.safetensors is missing: level 0 did not reach the rewind point {}", config.run_dir,
                config.rewind);
    }
    log::info("prune", "level {}/{}: sparsity {:.2f}% ({} of {} prunable weights pruned)", level, config.levels,
              100.0 * mask.sparsity(), mask.pruned(), total);
    LevelOutcome out = run_level(spec, config, train_level);
    const double m = metric_of(out.metrics, config.metric);
    if (level == 0) dense = m;
    masks.push_back(mask);
    metrics.push_back(m);
    levels.push_back(row(level, mask, m, dense));
    log::info("prune", "level {}: {} {:.4f} (dense {:.4f})", level, config.metric, m, dense);
    previous_trained = std::move(out.trained);
    if (config.target_sparsity > 0 && mask.sparsity() + 1e-12 >= config.target_sparsity) break;
  }

  // Baselines beside the trunk, at each pruned level's sparsity.
  nlohmann::json baselines = nlohmann::json::object();
  for (const auto& name : config.baselines) {
    nlohmann::json rows = nlohmann::json::array();
    NamedTensors standard_trained;
    for (size_t level = 1; level < masks.size(); ++level) {
      const std::string dir = config.run_dir + "/baselines/" + name + "/level_" + std::to_string(level);
      const int64_t target = masks[level].pruned();
      LevelSpec spec;
      spec.dir = dir;
      Mask mask;
      if (name == "random") {
        mask = level_mask(dir, config, static_cast<int>(level), [&] {
          return prune_to(full_mask(theta0, prunable), {}, target, Strategy::kRandom, config.seed * 31 + level);
        });
        spec.init = LevelInit::kTheta0;
      } else if (name == "reinit") {
        mask = level_mask(dir, config, static_cast<int>(level), [&] { return masks[level]; });
        spec.init = LevelInit::kRandom;
      } else if (name == "oneshot") {
        mask = level_mask(dir, config, static_cast<int>(level),
                          [&] { return prune_to(full_mask(theta0, prunable), theta0, target, config.strategy); });
        spec.init = LevelInit::kTheta0;
      } else {  // standard: prune the previous standard level's trained weights, keep training them
        const std::string prev = level == 1 ? level_dir(config.run_dir, 0)
                                            : config.run_dir + "/baselines/standard/level_" + std::to_string(level - 1);
        const NamedTensors& prev_trained = level == 1 ? NamedTensors() : standard_trained;
        mask = level_mask(dir, config, static_cast<int>(level), [&] {
          const Mask& base = level == 1 ? masks[0] : load_mask(prev + "/mask.safetensors");
          const NamedTensors weights = level == 1 ? load_named(prev + "/trained_prunable.safetensors") : prev_trained;
          return prune_to(base, weights, target, config.strategy);
        });
        spec.init = LevelInit::kContinue;
        spec.continue_dir = prev + "/model";
        LTH_CHECK(path_exists(spec.continue_dir + "/model.safetensors"), IoError,
                  "{}: the standard-pruning baseline continues from saved weights; run without --no-save-models",
                  spec.continue_dir);
      }
      spec.mask = &mask;
      log::info("prune", "baseline {} level {}: sparsity {:.2f}%", name, level, 100.0 * mask.sparsity());
      LevelOutcome out = run_level(spec, config, train_level);
      if (name == "standard") standard_trained = out.trained;
      rows.push_back(row(static_cast<int>(level), mask, metric_of(out.metrics, config.metric), dense));
    }
    baselines[name] = rows;
  }

  nlohmann::json summary = {{"schema", 1},
                            {"task", config.task},
                            {"metric", config.metric},
                            {"seed", config.seed},
                            {"config_hash", config.config_hash},
                            {"strategy", strategy_name(config.strategy)},
                            {"schedule", schedule_name(config.schedule)},
                            {"rewind", config.rewind},
                            {"dense", dense},
                            {"new_parameters", config.new_parameters},
                            {"prune_new_params", config.prune_new_params},
                            {"levels", levels},
                            {"baselines", baselines}};
  write_file_atomic(config.run_dir + "/summary.json", summary.dump(2) + "\n");
  write_file_atomic(config.run_dir + "/summary.md", summary_table(summary));
  return summary;
}

std::string summary_table(const nlohmann::json& s) {
  std::ostringstream out;
  const double dense = s.value("dense", 0.0);
  out << fmt::format("IMP on {} ({} {}, rewind {}), metric {}; {} = metric >= dense. One run is one seed: "
                     "Chen et al.'s {} (mean over seeds >= dense mean - dense std) is `lth report`'s, over seeds.\n",
                     s.value("task", ""), s.value("strategy", ""), s.value("schedule", ""), s.value("rewind", ""),
                     s.value("metric", ""), kMatchingStrictLabel, kMatchingLabel);
  if (s.contains("new_parameters") && s["new_parameters"].is_array() && !s["new_parameters"].empty()) {
    out << (s.value("prune_new_params", false)
                ? "Pruned although not in θ0 (--prune-new-params): "
                : "Not pruned (not in θ0, the checkpoint: initialised at load, not pretrained): ")
        << fmt::format("{}.\n", fmt::join(s["new_parameters"].get<std::vector<std::string>>(), ", "));
  }
  out << "\n";
  out << fmt::format("| {:<10} | {:>5} | {:>8} | {:>8} | {:>8} | {:>17} |\n", "branch", "level", "sparsity", "metric",
                     "delta", kMatchingStrictLabel);
  out << "|------------|-------|----------|----------|----------|-------------------|\n";
  auto print = [&](const std::string& branch, const nlohmann::json& rows) {
    for (const auto& r : rows) {
      const double m = r.value("metric", 0.0);
      out << fmt::format("| {:<10} | {:>5} | {:>7.2f}% | {:>8.4f} | {:>+8.4f} | {:>17} |\n", branch, r.value("level", 0),
                         100.0 * r.value("sparsity", 0.0), m, m - dense, is_matching_strict(m, dense) ? "yes" : "no");
    }
  };
  print("imp", s.at("levels"));
  for (auto it = s.at("baselines").begin(); it != s.at("baselines").end(); ++it) print(it.key(), it.value());
  return out.str();
}

}  // namespace lth::prune
