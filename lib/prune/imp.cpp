#include "prune/imp.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "prune/baselines.h"
#include "prune/matching.h"
#include "prune/run_layout.h"

namespace lth::prune {
namespace {

double metric_of(const nlohmann::json& metrics, const std::string& name) {
  auto it = metrics.find(name);
  LTH_CHECK(it != metrics.end() && it->is_number(), Error, "training returned no '{}' metric", name);
  return it->get<double>();
}

// Trains one level unless its outputs exist; returns (metrics, trained prunable weights).
LevelOutcome run_level(const LevelSpec& spec, const TrainLevelFn& train_level) {
  const LevelLayout files(spec.dir);
  const std::string result = files.result();
  const std::string trained = files.trained();
  if (path_exists(result) && path_exists(trained)) {
    LevelOutcome out;
    out.metrics = read_json_file(result).value("final", nlohmann::json::object());
    out.trained = load_weights(trained);
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
  save_weights(trained, out.trained);
  return out;
}

// The mask of a level: read when it exists (resume), else computed and written.
Mask level_mask(const LevelLayout& dir, const ImpConfig& config, int level, const std::function<Mask()>& compute) {
  const std::string path = dir.mask();
  if (path_exists(path)) return load_mask(path);
  make_dirs(dir.dir());
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
  write_file_atomic(dir.sparsity(), stats.dump(2) + "\n");
  return m;
}

nlohmann::json row(int level, const Mask& mask, double metric, double dense) {
  return {{"level", level}, {"sparsity", mask.sparsity()}, {"metric", metric}, {"delta", metric - dense}};
}

// What every stage of one study reads.
struct Study {
  const ImpConfig& config;
  const RunLayout layout;
  const NamedTensors& theta0;
  const std::vector<std::string>& prunable;
  const TrainLevelFn& train_level;
};

struct Trunk {
  std::vector<Mask> masks;  // by level
  nlohmann::json rows = nlohmann::json::array();
  double dense = 0.0;       // level 0's metric
};

// How trunk level `level` starts: θ0, or with late rewinding the rewind point that level 0 captures.
LevelSpec trunk_spec(const Study& s, int level, const Mask& mask) {
  const bool late_rewind = s.config.rewind != "init";
  LevelSpec spec;
  spec.dir = s.layout.level(level).dir();
  spec.mask = &mask;
  spec.init = (level > 0 && late_rewind) ? LevelInit::kRewind : LevelInit::kTheta0;
  if (level == 0 && late_rewind) spec.capture_rewind_to = s.layout.rewind();
  if (level > 0 && late_rewind) {
    LTH_CHECK(path_exists(s.layout.rewind()), IoError, "{} is missing: level 0 did not reach the rewind point {}",
              s.layout.rewind(), s.config.rewind);
  }
  return spec;
}

// The trunk: level 0 dense, then prune -> rewind -> train, until the last level or the target sparsity.
Trunk run_trunk(const Study& s) {
  const ImpConfig& config = s.config;
  const int64_t total = full_mask(s.theta0, s.prunable).total();
  Trunk trunk;
  NamedTensors previous_trained;
  for (int level = 0; level <= config.levels; ++level) {
    const int64_t target = pruned_at_level(total, level, config.rate, config.schedule);
    Mask mask = level_mask(s.layout.level(level), config, level, [&] {
      if (level == 0) return full_mask(s.theta0, s.prunable);
      return prune_to(trunk.masks.back(), previous_trained, target, config.strategy, config.seed + static_cast<uint64_t>(level));
    });
    const LevelSpec spec = trunk_spec(s, level, mask);
    log::info("prune", "level {}/{}: sparsity {:.2f}% ({} of {} prunable weights pruned)", level, config.levels,
              100.0 * mask.sparsity(), mask.pruned(), total);
    LevelOutcome out = run_level(spec, s.train_level);
    const double m = metric_of(out.metrics, config.metric);
    if (level == 0) trunk.dense = m;
    trunk.masks.push_back(mask);
    trunk.rows.push_back(row(level, mask, m, trunk.dense));
    log::info("prune", "level {}: {} {:.4f} (dense {:.4f})", level, config.metric, m, trunk.dense);
    previous_trained = std::move(out.trained);
    if (config.target_sparsity > 0 && mask.sparsity() + 1e-12 >= config.target_sparsity) break;
  }
  return trunk;
}

// One baseline's branch beside the trunk, at each pruned trunk level's sparsity; returns its rows.
nlohmann::json run_branch(const Study& s, const Baseline& baseline, const Trunk& trunk) {
  nlohmann::json rows = nlohmann::json::array();
  NamedTensors branch_trained;
  for (int level = 1; level < static_cast<int>(trunk.masks.size()); ++level) {
    const LevelLayout dir = s.layout.baseline(baseline.name, level);
    const BranchStep step{s.config, s.theta0, s.prunable, trunk.masks, level,
                          trunk.masks[static_cast<size_t>(level)].pruned(),
                          level == 1 ? s.layout.level(0) : s.layout.baseline(baseline.name, level - 1), branch_trained};
    Mask mask = level_mask(dir, s.config, level, [&] { return baseline.mask(step); });
    LevelSpec spec;
    spec.dir = dir.dir();
    spec.init = baseline.init;
    if (baseline.init == LevelInit::kContinue) {
      spec.continue_dir = step.previous.model();
      LTH_CHECK(path_exists(spec.continue_dir + "/model.safetensors"), IoError,
                "{}: the {}-pruning baseline continues from saved weights; run without --no-save-models",
                spec.continue_dir, baseline.name);
    }
    spec.mask = &mask;
    log::info("prune", "baseline {} level {}: sparsity {:.2f}%", baseline.name, level, 100.0 * mask.sparsity());
    LevelOutcome out = run_level(spec, s.train_level);
    rows.push_back(row(level, mask, metric_of(out.metrics, s.config.metric), trunk.dense));
    branch_trained = std::move(out.trained);
  }
  return rows;
}

nlohmann::json summary_of(const ImpConfig& config, const Trunk& trunk, const nlohmann::json& baselines) {
  return {{"schema", 1},
          {"task", config.task},
          {"metric", config.metric},
          {"seed", config.seed},
          {"config_hash", config.config_hash},
          {"strategy", strategy_name(config.strategy)},
          {"schedule", schedule_name(config.schedule)},
          {"rewind", config.rewind},
          {"dense", trunk.dense},
          {"new_parameters", config.new_parameters},
          {"prune_new_params", config.prune_new_params},
          {"levels", trunk.rows},
          {"baselines", baselines}};
}

}  // namespace

void save_weights(const std::string& path, const NamedTensors& tensors) {
  std::vector<std::pair<std::string, at::Tensor>> list;
  for (const auto& [n, t] : tensors) list.emplace_back(n, t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  io::save_safetensors(path, list);
}

NamedTensors load_weights(const std::string& path) {
  io::SafetensorsFile f(path);
  NamedTensors out;
  for (auto& [n, t] : f.load_all()) out[n] = t;
  return out;
}

nlohmann::json run_imp(const ImpConfig& config, const NamedTensors& theta0, const std::vector<std::string>& prunable,
                       const TrainLevelFn& train_level) {
  check_baseline_names(config.baselines);
  const Study study{config, RunLayout(config.run_dir), theta0, prunable, train_level};
  make_dirs(study.layout.dir());
  const Trunk trunk = run_trunk(study);
  nlohmann::json baselines = nlohmann::json::object();
  for (const auto& name : config.baselines) baselines[name] = run_branch(study, *find_baseline(name), trunk);
  const nlohmann::json summary = summary_of(config, trunk, baselines);
  write_file_atomic(study.layout.summary(), summary.dump(2) + "\n");
  write_file_atomic(study.layout.summary_table(), summary_table(summary));
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
