// The tables of `lth mux bench`: throughput per N (mux::bench_throughput's rows) and, for trained
// runs, accuracy × throughput, as text or one JSON object.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mux/bench.h"

namespace lth::mux {

// What a finished `lth mux train` run reports (result.json, config.json).
struct TrainedRun {
  std::string dir, task, metric;
  int64_t n = 0;
  // config.json's "mux" (defaults: what runs written before a key existed used)
  std::string mux = "hadamard", demux = "index", index_tokens = "[unused{}]", pooling = "first", mask;
  double value = 0.0, retrieval = 0.0, warmup_retrieval = 0.0, seconds = 0.0;
  // The held-out retrieval accuracy over the warm-up (warmup/metrics.jsonl's eval lines): step, value.
  std::vector<std::pair<int64_t, double>> warmup_curve;
  double unigram = 0.0;  // the warm-up's unigram baseline (0 when the run did not record it)
};

// The bench row that measured `run`'s configuration (same N, mux, demux, pooling and mask); nullptr if none.
const BenchRow* row_of(const std::vector<BenchRow>& rows, const TrainedRun& run);

// Reads a run directory; IoError without result.json. Runs record their main metric; for older
// runs that did not, `main_metric_of(task)` names it.
TrainedRun read_trained_run(const std::string& dir, const std::function<std::string(const std::string&)>& main_metric_of);

struct BenchReport {
  std::string model, mux, demux, mask;
  BenchConfig bench;
  int threads = 0;
  std::vector<BenchRow> rows;
  std::vector<TrainedRun> runs;
};

nlohmann::json bench_json(const BenchReport& report);
// The text tables, each line ending in '\n'.
std::string render_bench(const BenchReport& report);

}  // namespace lth::mux
