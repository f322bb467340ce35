// Throughput of multiplexed inference, measured side by side: one forward pass of every configuration
// in turn (A B C A B C ...), repeated, medians taken, so that a CPU whose speed drifts during the run
// affects every configuration alike.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/bert.h"
#include "mux/mux_model.h"

namespace lth::mux {

struct BenchConfig {
  int64_t seq_len = 128;   // tokens per instance (no padding)
  int64_t batch = 1;       // encoder sequences (groups) per forward pass; instances = batch · N
  int64_t rounds = 7;      // interleaved repetitions
  double min_seconds = 0.05;  // a sample repeats the forward pass until it lasts at least this long
  uint64_t seed = 57;
};

struct BenchRow {
  std::string name;          // "plain" (the BERT alone) or "N=<n>"
  int64_t n = 0;             // 0 for plain
  int64_t instances = 0;     // per forward pass
  double seconds = 0.0;      // median seconds per forward pass
  double instances_per_s = 0.0;
  double speedup = 0.0;      // instances/s over the first N=1 row (or plain when there is no N=1)
  double speedup_vs_plain = 0.0;
  // What the caller measured (bench_throughput leaves them empty): the model's mux and demux kinds,
  // its pooling, its ticket mask and the share of encoder weights that mask prunes.
  std::string mux, demux, pooling, mask;
  double sparsity = 0.0;
};

// `plain` is run as a baseline (plain BERT forward, same head, same inputs per instance); `models`
// are multiplexed wrappers of it or of other BERTs of its shape (e.g. tickets of it), one row each,
// in their order after plain's. Inference mode, no gradients.
std::vector<BenchRow> bench_throughput(model::Bert& plain, std::vector<MuxBert>& models, const BenchConfig& config);

// A randomly initialised BERT of a known shape: "bert-base" (12×768, 12 heads, 3072) or "bert-tiny"
// (2×128, 2 heads, 512); vocab 30522, 512 positions, a 2-label sequence-classification head.
// ConfigError for another name.
model::BertConfig preset_config(const std::string& name);

}  // namespace lth::mux
