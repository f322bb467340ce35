#include "prune/sparse_bench.h"

#include <algorithm>
#include <filesystem>

#include <torch/torch.h>

#include "core/error.h"
#include "core/log.h"
#include "model/sparse.h"
#include "prune/mask.h"
#include "prune/run_layout.h"
#include "prune/strategy.h"

namespace lth::prune {
namespace {

// The masks of a run directory's levels, in level order (the dense level 0 left out).
std::vector<Mask> run_masks(const std::string& run, const NamedTensors& weights) {
  std::error_code ec;
  const auto levels = RunLayout(run).trunk().levels_on_disk(ec);
  LTH_CHECK(!ec, IoError, "{}: cannot list the run directory: {}", run, ec.message());
  std::vector<std::string> paths;
  for (const auto& [level, files] : levels) {
    if (std::filesystem::exists(files.mask())) paths.push_back(files.mask());
  }
  LTH_CHECK(!paths.empty(), IoError, "{}: no level_N/mask.safetensors in this run directory", run);
  std::vector<Mask> out;
  for (const auto& path : paths) {
    Mask mask = load_mask(path);
    mask.check_fits(weights, path);
    if (mask.pruned() > 0) out.push_back(std::move(mask));
  }
  return out;
}

// Masks to benchmark: the levels of a run directory, or global magnitude masks at each sparsity.
std::vector<Mask> make_masks(const SparseBenchRun& cfg, const NamedTensors& weights, const std::vector<std::string>& names) {
  if (!cfg.run.empty()) return run_masks(cfg.run, weights);
  std::vector<Mask> out;
  std::vector<double> levels = cfg.sparsity;
  std::sort(levels.begin(), levels.end());
  Mask mask = full_mask(weights, names);
  for (double s : levels) {
    LTH_CHECK(s >= 0.0 && s < 1.0, UsageError, "--sparsity {} is outside [0, 1)", s);
    const auto target = static_cast<int64_t>(std::llround(s * static_cast<double>(mask.total())));
    mask = prune_to(mask, weights, target, Strategy::kGlobal);
    out.push_back(mask);
  }
  return out;
}

// The masks to time, with their sparsities over the prunable set.
std::vector<model::BenchMask> bench_masks(const SparseBenchRun& run, model::Bert& bert) {
  std::vector<std::string> all_names;
  std::vector<int64_t> dims;
  NamedTensors params;
  for (auto& item : bert->named_parameters()) {
    all_names.push_back(item.key());
    dims.push_back(item.value().dim());
    params[item.key()] = item.value().detach();
  }
  const std::vector<std::string> names = prunable_names(all_names, dims);
  NamedTensors weights;
  for (const auto& n : names) weights[n] = params.at(n);
  log::info("bench", "building masks over {} prunable matrices", names.size());
  std::vector<model::BenchMask> masks;
  for (const Mask& mask : make_masks(run, weights, names)) masks.push_back({mask.sparsity(), mask.tensors});
  return masks;
}

}  // namespace

nlohmann::json run_sparse_bench(const SparseBenchRun& run) {
  const auto& cfg = run.bench;
  LTH_CHECK(cfg.batch > 0 && cfg.seq_len > 0 && cfg.reps > 0 && cfg.warmup >= 0, UsageError,
            "--batch, --seq-len and --reps must be positive, --warmup non-negative");
  std::string label;
  model::Bert bert = model::bench_model(run.model, &label);
  LTH_CHECK(cfg.seq_len <= bert->config().max_position_embeddings, UsageError,
            "--seq-len {} exceeds the model's max_position_embeddings {}", cfg.seq_len,
            bert->config().max_position_embeddings);
  bert->eval();
  model::clear_packed_weights(bert);  // a sparse checkpoint's own packing is not a variant here
  std::vector<model::BenchMask> masks;
  {
    torch::NoGradGuard no_grad;  // building masks; bench_sparse sets its own grad mode
    masks = bench_masks(run, bert);
  }
  return model::bench_sparse(bert, label, masks, cfg);
}

}  // namespace lth::prune
