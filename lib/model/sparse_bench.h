// The sparse inference bench (`lth bench`): encoder and Linear-layer throughput of one BERT, dense
// and with packed sparse weights under each of several masks, every variant measured side by side in
// one process, interleaved (A B C A B C ...), medians taken. The sparse variants are installed with
// sparse.h's packing and replacements, as a sparse checkpoint runs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/bert.h"

namespace lth::model {

struct SparseBenchConfig {
  int64_t batch = 32;
  int64_t seq_len = 128;
  int warmup = 1;  // untimed rounds first
  int reps = 5;    // timed rounds
  bool linear_only = false;  // time only the Linear layers, not the whole encoder
  bool pack_all = false;     // run every weight sparse, even above the measured crossover density
  // Time training steps (forward + backward, fp32) instead of inference: the dense masked path
  // against sparse training (ops/sparse_train.h) under each mask.
  bool train = false;
};

// One sparse variant: a mask (parameter name -> 0/1 tensor) and its sparsity over the prunable weights.
struct BenchMask {
  double sparsity = 0.0;
  std::map<std::string, at::Tensor> tensors;
};

// "bert-base" / "bert-tiny": a random init of that shape (seed 0), labelled "<name> (random init)";
// otherwise the checkpoint directory, loaded.
Bert bench_model(const std::string& name, std::string* label);

// Times the dense model and one variant per mask; returns the JSON `lth bench --json` prints (rows,
// and linear_rows unless linear_only; peak_rss_bytes; "mode": "inference" or "train"). With
// config.train a timed unit is one training step's forward and backward (the optimizer, the same
// dense update on both paths, is left out). The model runs dense again afterwards.
nlohmann::json bench_sparse(Bert& model, const std::string& label, const std::vector<BenchMask>& masks,
                            const SparseBenchConfig& config);

// The text tables of a bench_sparse result.
std::string render_sparse_bench(const nlohmann::json& result, bool linear_only);

}  // namespace lth::model
