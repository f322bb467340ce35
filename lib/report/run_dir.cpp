#include "report/run_dir.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "prune/run_layout.h"

namespace lth::report {
namespace fs = std::filesystem;
using Json = nlohmann::json;

void Problems::add(const std::string& message) {
  log::warn("report", "{}", message);
  list_.push_back(message);
}

namespace {

std::optional<double> number_or_null(const Json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string string_or_empty(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Reads a JSON object file; a missing file returns nullopt silently, a damaged one adds a problem.
std::optional<Json> read_object(const std::string& path, Problems& problems) {
  if (!path_exists(path)) return std::nullopt;
  try {
    Json j = read_json_file(path);
    if (!j.is_object()) {
      problems.add(fmt::format("{}: expected a JSON object; ignored", path));
      return std::nullopt;
    }
    return j;
  } catch (const Error& e) {
    problems.add(fmt::format("{}; ignored", e.what()));
    return std::nullopt;
  }
}

// Removes the keys that differ between seeds of one experiment, recursively for seed/out. The list
// of baselines does not change the trunk (they are branches trained after it), so seeds that ran
// different baselines (e.g. reinit on one seed only) are one group; each baseline's rows average the
// seeds that have it.
void strip_seed(Json& j, bool top) {
  if (j.is_object()) {
    j.erase("seed");
    j.erase("out");
    if (top) {
      j.erase("hash");
      j.erase("hashed");
      j.erase("baselines");
    }
    for (auto& [key, value] : j.items()) strip_seed(value, false);
  } else if (j.is_array()) {
    for (auto& value : j) strip_seed(value, false);
  }
}

// Levels listed in summary.json ("levels" or one "baselines" entry).
void merge_summary_levels(const Json& list, BranchData& branch, const std::string& where, Problems& problems) {
  if (!list.is_array()) {
    problems.add(fmt::format("{}: expected a list of levels; ignored", where));
    return;
  }
  for (const Json& item : list) {
    if (!item.is_object() || !item.contains("level") || !item["level"].is_number_integer()) {
      problems.add(fmt::format("{}: a level entry without an integer \"level\"; ignored", where));
      continue;
    }
    LevelData& level = branch.levels[item["level"].get<int>()];
    level.level = item["level"].get<int>();
    if (auto s = number_or_null(item, "sparsity")) level.sparsity = s;
    if (auto m = number_or_null(item, "metric")) level.metric = m;
  }
}

// The main metric when summary.json does not name it: the first of these in result.json "final".
std::string guess_metric(const Json& final_metrics) {
  static const char* kMain[] = {"accuracy", "f1", "mcc", "matthews_correlation", "pearson", "spearmanr", "exact_match"};
  for (const char* name : kMain) {
    if (final_metrics.is_object() && final_metrics.contains(name) && final_metrics[name].is_number()) return name;
  }
  return "";
}

void read_branch(const prune::BranchLayout& dir, std::string& metric, BranchData& branch, Problems& problems) {
  std::error_code ec;
  for (const auto& [k, level_dir] : dir.levels_on_disk(ec)) {
    LevelData& level = branch.levels[k];
    level.level = k;
    const std::string result_path = level_dir.result();
    if (!path_exists(result_path)) {
      problems.add(fmt::format("{}: missing (level {} not finished)", result_path, k));
    } else if (auto result = read_object(result_path, problems)) {
      const Json& final_metrics = result->contains("final") ? (*result)["final"] : Json();
      if (metric.empty()) metric = guess_metric(final_metrics);
      if (!level.metric && !metric.empty()) {
        level.metric = number_or_null(final_metrics, metric.c_str());
        if (!level.metric) problems.add(fmt::format("{}: no \"final\".\"{}\" value", result_path, metric));
      }
    }
    const std::string sparsity_path = level_dir.sparsity();
    if (auto sp = read_object(sparsity_path, problems)) {
      if (!level.sparsity) level.sparsity = number_or_null(*sp, "sparsity");
      if (sp->contains("per_tensor") && (*sp)["per_tensor"].is_object()) {
        for (const auto& [name, t] : (*sp)["per_tensor"].items()) {
          auto total = number_or_null(t, "total");
          auto pruned = number_or_null(t, "pruned");
          if (!total || !pruned) {
            problems.add(fmt::format("{}: per_tensor \"{}\" lacks total/pruned; ignored", sparsity_path, name));
            continue;
          }
          level.per_tensor[name] = TensorCount{static_cast<int64_t>(*total), static_cast<int64_t>(*pruned)};
        }
      }
    } else if (!path_exists(sparsity_path)) {
      problems.add(fmt::format("{}: missing; counting from the mask", sparsity_path));
    }
    const std::string mask_path = level_dir.mask();
    if (!path_exists(mask_path)) {
      problems.add(fmt::format("{}: missing", mask_path));
      continue;
    }
    try {
      io::SafetensorsFile check(mask_path);
      level.mask_path = mask_path;
      if (level.per_tensor.empty()) level.per_tensor = mask_counts(mask_path);
      if (!level.sparsity && !level.per_tensor.empty()) {
        TensorCount all;
        for (const auto& [name, t] : level.per_tensor) all.total += t.total, all.pruned += t.pruned;
        level.sparsity = all.sparsity();
      }
    } catch (const Error& e) {
      problems.add(fmt::format("{} (unreadable mask; ignored)", e.what()));
      level.mask_path.clear();
    }
  }
}

}  // namespace

bool is_run_dir(const std::string& dir) { return prune::RunLayout(dir).looks_like_run(); }

std::optional<RunData> load_run(const std::string& dir, Problems& problems) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    problems.add(fmt::format("{}: not a directory; skipped", dir));
    return std::nullopt;
  }
  if (!is_run_dir(dir)) {
    problems.add(fmt::format("{}: not an IMP run directory (no config.json, summary.json or level_K); skipped", dir));
    return std::nullopt;
  }
  RunData run;
  run.path = dir;
  const prune::RunLayout layout(dir);
  const std::optional<Json> config = read_object(layout.config(), problems);
  if (!config && !path_exists(layout.config())) {
    problems.add(fmt::format("{}: missing; the run is not grouped with other seeds", layout.config()));
  }
  const std::optional<Json> summary = read_object(layout.summary(), problems);
  if (!summary && !path_exists(layout.summary())) {
    problems.add(fmt::format("{}: missing; reading the levels' result.json", layout.summary()));
  }

  if (config) {
    Json key = *config;
    strip_seed(key, true);
    run.group_key = key.dump();
    run.task = string_or_empty(*config, "task");
    run.metric = string_or_empty(*config, "metric");
    run.config_hash = string_or_empty(*config, "hash");
    if (config->contains("seed") && (*config)["seed"].is_number_integer()) run.seed = (*config)["seed"].get<int64_t>();
  } else {
    run.group_key = "path:" + dir;
  }
  if (summary) {
    try {
      if (auto t = string_or_empty(*summary, "task"); !t.empty()) run.task = t;
      if (auto m = string_or_empty(*summary, "metric"); !m.empty()) run.metric = m;
      if (auto h = string_or_empty(*summary, "config_hash"); !h.empty()) run.config_hash = h;
      if (summary->contains("seed") && (*summary)["seed"].is_number_integer()) run.seed = (*summary)["seed"].get<int64_t>();
      run.dense = number_or_null(*summary, "dense");
      if (summary->contains("new_parameters") && (*summary)["new_parameters"].is_array()) {
        for (const auto& n : (*summary)["new_parameters"])
          if (n.is_string()) run.new_parameters.push_back(n.get<std::string>());
      }
      run.prune_new_params = summary->value("prune_new_params", false);
      if (summary->contains("levels")) merge_summary_levels((*summary)["levels"], run.trunk, layout.summary(), problems);
      if (summary->contains("baselines") && (*summary)["baselines"].is_object()) {
        for (const auto& [name, list] : (*summary)["baselines"].items()) {
          merge_summary_levels(list, run.baselines[name], layout.summary() + " (baseline " + name + ")", problems);
        }
      }
    } catch (const nlohmann::json::exception& e) {
      problems.add(fmt::format("{}: malformed ({}); partly ignored", layout.summary(), e.what()));
    }
  }
  read_branch(layout.trunk(), run.metric, run.trunk, problems);
  if (run.metric.empty()) {
    problems.add(fmt::format("{}: the main metric's name is unknown (no summary.json \"metric\"); levels without a "
                             "summary entry have no score", dir));
  }
  for (const auto& [name, branch] : layout.baselines_on_disk()) read_branch(branch, run.metric, run.baselines[name], problems);
  if (!run.dense) {
    auto it = run.trunk.levels.find(0);
    if (it != run.trunk.levels.end()) run.dense = it->second.metric;
  }
  for (auto& [k, level] : run.trunk.levels) {
    if (k == 0 && !level.sparsity) level.sparsity = 0.0;
  }
  if (!config && !summary && run.trunk.levels.empty()) {
    problems.add(fmt::format("{}: nothing readable (config.json and summary.json damaged, no level_K); skipped", dir));
    return std::nullopt;
  }
  return run;
}

std::map<std::string, TensorCount> mask_counts(const std::string& mask_path) {
  io::SafetensorsFile file(mask_path);
  std::map<std::string, TensorCount> out;
  for (const io::TensorEntry& e : file.entries()) {
    LTH_CHECK(e.dtype == "U8" || e.dtype == "BOOL", IoError, "{}: tensor {} has dtype {}, a mask needs U8 or BOOL",
              mask_path, e.name, e.dtype);
    const at::Tensor t = file.load(e.name).contiguous();
    const auto* p = static_cast<const uint8_t*>(t.data_ptr());
    const int64_t n = t.numel();
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) kept += p[i] != 0;
    out[e.name] = TensorCount{n, n - kept};
  }
  return out;
}

std::optional<double> mask_iou(const std::string& a, const std::string& b, Problems& problems) {
  try {
    io::SafetensorsFile fa(a), fb(b);
    if (fa.entries().size() != fb.entries().size()) {
      problems.add(fmt::format("{} and {}: different tensors ({} vs {}); no overlap computed", a, b, fa.entries().size(),
                               fb.entries().size()));
      return std::nullopt;
    }
    int64_t both = 0, either = 0;
    for (const io::TensorEntry& ea : fa.entries()) {
      if (!fb.contains(ea.name) || fb.entry(ea.name).shape != ea.shape) {
        problems.add(fmt::format("{}: tensor {} is absent or shaped differently in {}; no overlap computed", a, ea.name, b));
        return std::nullopt;
      }
      const io::TensorEntry& eb = fb.entry(ea.name);
      for (const auto* e : {&ea, &eb}) {
        LTH_CHECK(e->dtype == "U8" || e->dtype == "BOOL", IoError, "{}: tensor {} has dtype {}, a mask needs U8 or BOOL",
                  e == &ea ? a : b, e->name, e->dtype);
      }
      const at::Tensor ta = fa.load(ea.name).contiguous(), tb = fb.load(ea.name).contiguous();
      const auto* pa = static_cast<const uint8_t*>(ta.data_ptr());
      const auto* pb = static_cast<const uint8_t*>(tb.data_ptr());
      const int64_t n = ta.numel();
      for (int64_t i = 0; i < n; ++i) {
        const bool ka = pa[i] != 0, kb = pb[i] != 0;
        both += ka && kb;
        either += ka || kb;
      }
    }
    if (either == 0) return std::nullopt;
    return static_cast<double>(both) / static_cast<double>(either);
  } catch (const Error& e) {
    problems.add(fmt::format("{}; no overlap computed", e.what()));
    return std::nullopt;
  }
}

}  // namespace lth::report
