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
  double value = 0.0, retrieval = 0.0, warmup_retrieval = 0.0, seconds = 0.0;
};

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
