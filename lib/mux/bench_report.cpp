#include "mux/bench_report.h"

#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"

namespace lth::mux {

namespace {

// The eval lines of the warm-up's metrics.jsonl (absent: no curve). A line that does not parse is
// an IoError naming the file and the line.
void read_warmup_curve(const std::string& path, TrainedRun& run) {
  if (!path_exists(path)) return;
  std::istringstream lines(read_file(path));
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.empty()) continue;
    const auto j = parse_json_text(line, fmt::format("{} line {}", path, number));
    LTH_CHECK(j.is_object(), IoError, "{} line {}: not a JSON object", path, number);
    if (j.value("split", "") == "train" || !j.contains("retrieval_accuracy") || !j["retrieval_accuracy"].is_number()) {
      continue;
    }
    run.warmup_curve.emplace_back(j.value("step", int64_t{0}), j["retrieval_accuracy"].get<double>());
    run.unigram = j.value("retrieval_unigram_accuracy", run.unigram);
  }
}

}  // namespace

const BenchRow* row_of(const std::vector<BenchRow>& rows, const TrainedRun& run) {
  for (const auto& r : rows) {
    if (r.n == run.n && r.mux == run.mux && r.demux == run.demux && r.pooling == run.pooling && r.mask == run.mask) {
      return &r;
    }
  }
  return nullptr;
}

TrainedRun read_trained_run(const std::string& dir, const std::function<std::string(const std::string&)>& main_metric_of) {
  TrainedRun r;
  r.dir = dir;
  LTH_CHECK(path_exists(dir + "/result.json"), IoError, "{}: no result.json (not a finished lth mux train run)", dir);
  const auto result = read_json_file(dir + "/result.json");
  const auto config = path_exists(dir + "/config.json") ? read_json_file(dir + "/config.json") : nlohmann::json::object();
  r.n = result.value("n", int64_t{0});
  r.task = config.value("task", "");
  const auto settings = config.value("mux", nlohmann::json::object());
  r.mux = settings.value("mux", r.mux);
  r.demux = settings.value("demux", r.demux);
  r.index_tokens = settings.value("index_tokens", r.index_tokens);
  r.pooling = settings.value("pooling", r.pooling);
  r.mask = settings.value("mask", std::string());
  read_warmup_curve(dir + "/warmup/metrics.jsonl", r);
  const auto final = result.value("final", nlohmann::json::object());
  r.warmup_retrieval = result.value("warmup", nlohmann::json::object()).value("retrieval_accuracy", 0.0);
  r.seconds = result.value("seconds", 0.0);
  if (!r.task.empty()) {
    // Runs record their main metric (any task); older GLUE-only runs did not.
    r.metric = result.value("main_metric", std::string());
    if (r.metric.empty()) r.metric = main_metric_of(r.task);
    r.value = final.value(r.metric, 0.0);
    r.retrieval = final.value("retrieval_accuracy", 0.0);
  } else {
    r.metric = "retrieval_accuracy";
    r.value = r.warmup_retrieval;
    r.retrieval = r.value;
  }
  return r;
}

nlohmann::json bench_json(const BenchReport& report) {
  nlohmann::json j = {{"model", report.model}, {"seq_len", report.bench.seq_len}, {"batch", report.bench.batch},
                      {"rounds", report.bench.rounds}, {"threads", report.threads}, {"mux", report.mux},
                      {"demux", report.demux}, {"mask", report.mask}};
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : report.rows) {
    nlohmann::json row = {{"n", r.n}, {"instances_per_s", r.instances_per_s}, {"speedup", r.speedup},
                          {"speedup_vs_plain", r.speedup_vs_plain}, {"seconds_per_forward", r.seconds},
                          {"instances_per_forward", r.instances}, {"mask", r.mask}, {"sparsity", r.sparsity}};
    if (r.n == 0) {
      j["plain"] = row;
      continue;
    }
    row["mux"] = r.mux;
    row["demux"] = r.demux;
    row["pooling"] = r.pooling;
    for (const auto& run : report.runs) {
      if (row_of(report.rows, run) != &r) continue;
      nlohmann::json curve = nlohmann::json::array();
      for (const auto& [step, value] : run.warmup_curve) curve.push_back({{"step", step}, {"retrieval_accuracy", value}});
      row["runs"].push_back({{"dir", run.dir}, {"task", run.task}, {"metric", run.metric}, {run.metric, run.value},
                             {"retrieval_accuracy", run.retrieval}, {"warmup_retrieval_accuracy", run.warmup_retrieval},
                             {"warmup_unigram_accuracy", run.unigram}, {"warmup_curve", curve},
                             {"train_seconds", run.seconds}});
    }
    list.push_back(row);
  }
  j["rows"] = list;
  return j;
}

namespace {

std::string sparsity_cell(const BenchRow& r) { return r.mask.empty() ? "dense" : fmt::format("{:.1f}%", 100.0 * r.sparsity); }

// retrieval: on the task's dev set after fine-tuning; warm-up: on held-out text after the warm-up.
std::string render_runs(const BenchReport& report) {
  std::string out = fmt::format("\n{:>6}  {:>8}  {:>12}  {:>8}  {:>10}  {:>9}  {:>7}  {:>8}  {}\n", "N", "sparsity",
                                "instances/s", "speedup", "metric", "retrieval", "warm-up", "train s", "run");
  for (const auto& run : report.runs) {
    const BenchRow* r = row_of(report.rows, run);
    if (r == nullptr) continue;
    out += fmt::format("{:>6}  {:>8}  {:>12.2f}  {:>8.2f}  {:>10.4f}  {:>9.4f}  {:>7.4f}  {:>8.0f}  {} ({} {})\n", r->n,
                       sparsity_cell(*r), r->instances_per_s, r->speedup, run.value, run.retrieval,
                       run.warmup_retrieval, run.seconds, run.dir, run.task.empty() ? "warm-up" : run.task, run.metric);
  }
  return out;
}

}  // namespace

std::string render_bench(const BenchReport& report) {
  std::string out = fmt::format("# {} seq-len {} batch {} threads {}; {} interleaved rounds, medians\n", report.model,
                                report.bench.seq_len, report.bench.batch, report.threads, report.bench.rounds);
  out += fmt::format("{:>6}  {:>8}  {:>8}  {:>8}  {:>12}  {:>8}  {:>9}  {:>10}\n", "N", "mux", "demux", "sparsity",
                     "instances/s", "speedup", "vs plain", "s/forward");
  for (const auto& r : report.rows) {
    out += fmt::format("{:>6}  {:>8}  {:>8}  {:>8}  {:>12.2f}  {:>8}  {:>9.2f}  {:>10.4f}\n",
                       r.n == 0 ? "plain" : std::to_string(r.n), r.n == 0 ? "-" : r.mux, r.n == 0 ? "-" : r.demux,
                       sparsity_cell(r), r.instances_per_s, r.n == 0 ? "-" : fmt::format("{:.2f}", r.speedup),
                       r.speedup_vs_plain, r.seconds);
  }
  if (!report.runs.empty()) out += render_runs(report);
  return out;
}

}  // namespace lth::mux
