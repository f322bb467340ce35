// `lth report`: sparsity/metric reports over IMP run directories, as JSON (schema 1), Markdown or one
// self-contained HTML file with inline SVG plots.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/names.h"
#include "report/run_dir.h"

namespace lth::report {

enum class Format { kMarkdown, kJson, kHtml };
// "md"/"markdown", "json", "html"; throws UsageError otherwise.
Format parse_format(const std::string& name);

// Mean and sample standard deviation (n - 1) over seeds; std is nullopt with fewer than 2 values.
struct Stat {
  std::vector<double> values;
  double mean = 0.0;
  std::optional<double> std;
  int n() const { return static_cast<int>(values.size()); }
};
Stat make_stat(std::vector<double> values);

struct LevelRow {
  int level = 0;
  double sparsity = 0.0;
  Stat metric;                  // empty when no run of the group has a metric at this level
  std::optional<double> delta;  // metric mean - dense mean
  std::optional<bool> matching; // prune::is_matching; nullopt when dense has < 2 seeds or the level has no metric
  std::optional<bool> matching_strict;  // prune::is_matching_strict (mean >= dense mean); nullopt without scores
};

// The six prunable matrices of a BERT layer, in display order (model/names.h), and their labels.
using Matrix = model::names::Matrix;
inline constexpr int kMatrixCount = model::names::kMatrixCount;
inline constexpr std::array<const char*, kMatrixCount> kMatrixNames = [] {
  std::array<const char*, kMatrixCount> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = model::names::kMatrices[i].label;
  return out;
}();

// Weight counts of one matrix, averaged over the seeds that have the level (so `pruned` may be
// fractional when seeds differ); sparsity = pruned / total.
struct Cell {
  double total = 0.0;
  double pruned = 0.0;
  double sparsity() const { return total > 0 ? pruned / total : 0.0; }
};

struct LayerSparsity {
  int layer = 0;
  std::array<std::optional<Cell>, kMatrixCount> matrices;
  double total = 0.0;      // over the matrices present
  double remaining = 0.0;  // kept weights
};

struct LevelMatrices {
  int level = 0;
  double sparsity = 0.0;
  int runs = 0;  // seeds averaged
  std::vector<LayerSparsity> layers;
  std::optional<Cell> pooler;
  std::map<std::string, Cell> other;  // prunable tensors that are not Q/K/V/AO/I/O/pooler
};

struct OverlapRow {
  int from_level = 0;
  int to_level = 0;
  double from_sparsity = 0.0;
  double to_sparsity = 0.0;
  std::vector<std::optional<int64_t>> seeds;  // parallel to iou.values
  Stat iou;
};

struct Group {
  std::string label;  // task, plus " [gN]" when several groups share a task
  std::string task;
  std::string metric;
  std::vector<std::string> runs;
  std::vector<std::optional<int64_t>> seeds;
  std::vector<std::string> config_hashes;
  Stat dense;
  std::vector<LevelRow> levels;
  std::map<std::string, std::vector<LevelRow>> baselines;
  std::vector<LevelMatrices> matrices;
  std::vector<OverlapRow> overlap;
  // Matrices of the prunable set that θ0 lacks (initialised at load, not pretrained), over the runs:
  // left unpruned by default, pruned in the runs made with --prune-new-params (`new_pruned`).
  std::vector<std::string> new_excluded;
  std::vector<std::string> new_pruned;
};

// The headline of a group: the sparsest pruned IMP level (level > 0) whose metric matches the dense
// model; nullopt when none does or matching cannot be decided (fewer than two dense seeds).
std::optional<int> sparsest_matching_level(const Group& group);

// Mask IoU between groups (ticket similarity) at one sparsity. Cell (a, b) is the mean IoU over the
// pairs of distinct runs (run of a, run of b); the diagonal compares seeds of one group.
struct SimilarityMatrix {
  double sparsity = 0.0;
  std::vector<int> groups;
  std::vector<std::string> labels;
  std::vector<std::vector<std::optional<double>>> iou;
  std::vector<std::vector<int>> pairs;
};

// transfer-matrix.json: {"schema": 1, "sources": [..], "targets": [..], "scores": [[..]], "metric": ".."}.
struct TransferMatrix {
  std::string path;
  std::string metric;
  std::vector<std::string> sources;
  std::vector<std::string> targets;
  std::vector<std::vector<std::optional<double>>> scores;  // [source][target]
};

// `lth mux bench --json` (FORMATS.md): the throughput of each multiplexed configuration measured
// side by side, and beside it the accuracy of the trained runs it was given (--runs). One entry per
// (configuration, run); a configuration without a run has an empty `run`.
struct MuxPoint {
  int64_t n = 0;
  std::string mux, demux, pooling, mask;
  double sparsity = 0.0;  // share of the mask's weights pruned (0: dense)
  double instances_per_s = 0.0;
  double speedup = 0.0;  // over the first dense N=1 configuration of the bench
  std::string run, task, metric;
  std::optional<double> value;  // the run's task metric (or its retrieval accuracy for a warm-up-only run)
  std::optional<double> retrieval, warmup_retrieval, unigram;
  std::vector<std::pair<int64_t, double>> warmup_curve;  // held-out retrieval accuracy over the warm-up
};

struct MuxFrontier {
  std::string path, model;
  int64_t seq_len = 0, threads = 0, rounds = 0;
  std::vector<MuxPoint> points;
};

struct RunInfo {
  std::string path;
  std::string task;
  std::string metric;
  std::string config_hash;
  std::optional<int64_t> seed;
  int group = 0;
  int levels = 0;
};

struct Report {
  std::vector<RunInfo> runs;
  std::vector<Group> groups;
  std::vector<SimilarityMatrix> similarity;
  std::optional<TransferMatrix> transfer;
  std::optional<MuxFrontier> mux;
  std::vector<std::string> warnings;
};

// Reads the inputs (run directories, directories of run directories, transfer-matrix.json and
// `lth mux bench --json` files). Problems become warnings; throws IoError when there is neither a
// readable run nor a multiplexing bench.
Report build_report(const std::vector<std::string>& inputs);

std::string render_json(const Report& report);
std::string render_markdown(const Report& report);
std::string render_html(const Report& report);
std::string render(const Report& report, Format format);

struct ReportOptions {
  std::vector<std::string> inputs;
  std::optional<Format> format;  // default: from --out's extension, else Markdown
  std::string out;               // "" = stdout
};
// The command's entry point: builds, renders and writes the report (atomically when `out` is set).
void run_report(const ReportOptions& options);

}  // namespace lth::report
