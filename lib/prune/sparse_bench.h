// `lth bench` as one call: the masks to benchmark (the levels of an IMP run directory, or global
// magnitude masks at given sparsities over the prunable set), timed by model::bench_sparse.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/sparse_bench.h"

namespace lth::prune {

struct SparseBenchRun {
  std::string model = "bert-base";  // checkpoint directory, or bert-base / bert-tiny (random init)
  std::string run;                  // IMP run directory: its level_N/mask.safetensors instead of `sparsity`
  std::vector<double> sparsity{0.5, 0.7, 0.9, 0.95};
  model::SparseBenchConfig bench;
};

// The result model::bench_sparse returns (what `lth bench --json` prints).
nlohmann::json run_sparse_bench(const SparseBenchRun& run);

}  // namespace lth::prune
