#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "prune/matching.h"
#include "report/mux_frontier.h"

namespace lth::report {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// Levels of two runs are "comparable" when their sparsities differ by at most this much.
constexpr double kSparsityTolerance = 0.01;

// "bert.encoder.layer.3.attention.self.query.weight" -> (3, Q); pooler -> (-1, ...); others -> nullopt.
// Names with or without the "bert." root.
struct MatrixId {
  int layer = -1;  // -1 = pooler
  Matrix kind = Matrix::kQ;
};
std::optional<MatrixId> classify(const std::string& raw) {
  const std::string name = model::names::with_root(raw);
  if (name == model::names::kPoolerWeight) return MatrixId{};
  const auto m = model::names::matrix_of(name);
  if (!m || m->layer > std::numeric_limits<int>::max()) return std::nullopt;
  return MatrixId{static_cast<int>(m->layer), m->kind};
}

LevelMatrices matrices_of(int level, double sparsity, int runs, const std::map<std::string, TensorCount>& counts) {
  LevelMatrices m;
  m.level = level;
  m.sparsity = sparsity;
  m.runs = runs;
  std::map<int, LayerSparsity> layers;
  for (const auto& [name, sum] : counts) {
    const Cell c{static_cast<double>(sum.total) / runs, static_cast<double>(sum.pruned) / runs};
    auto id = classify(name);
    if (!id) {
      m.other[name] = c;
    } else if (id->layer < 0) {
      m.pooler = c;
    } else {
      LayerSparsity& l = layers[id->layer];
      l.layer = id->layer;
      l.matrices[static_cast<int>(id->kind)] = c;
      l.total += c.total;
      l.remaining += c.total - c.pruned;
    }
  }
  for (auto& [i, l] : layers) m.layers.push_back(l);
  return m;
}

LevelRow make_row(int level, const std::vector<double>& sparsities, std::vector<double> metrics, const Stat& dense) {
  LevelRow row;
  row.level = level;
  if (!sparsities.empty()) row.sparsity = make_stat(sparsities).mean;
  row.metric = make_stat(std::move(metrics));
  if (row.metric.n() > 0 && dense.n() > 0) row.delta = row.metric.mean - dense.mean;
  if (row.metric.n() > 0 && dense.n() > 0) {
    row.matching = prune::is_matching(row.metric.mean, dense.mean, dense.std);
    row.matching_strict = prune::is_matching_strict(row.metric.mean, dense.mean);
  }
  return row;
}

std::vector<LevelRow> branch_rows(const std::vector<const BranchData*>& branches, const Stat& dense) {
  std::set<int> levels;
  for (const BranchData* b : branches) {
    for (const auto& [k, l] : b->levels) levels.insert(k);
  }
  std::vector<LevelRow> rows;
  for (int k : levels) {
    std::vector<double> sparsities, metrics;
    for (const BranchData* b : branches) {
      auto it = b->levels.find(k);
      if (it == b->levels.end()) continue;
      if (it->second.sparsity) sparsities.push_back(*it->second.sparsity);
      if (it->second.metric) metrics.push_back(*it->second.metric);
    }
    rows.push_back(make_row(k, sparsities, std::move(metrics), dense));
  }
  return rows;
}

// Per-matrix sparsity of each trunk level, pooled over seeds (sum of pruned / sum of totals).
std::vector<LevelMatrices> pooled_matrices(const std::vector<const RunData*>& runs, const std::vector<LevelRow>& levels) {
  std::vector<LevelMatrices> out;
  for (const LevelRow& row : levels) {
    std::map<std::string, TensorCount> pooled;
    int contributing = 0;
    for (const RunData* r : runs) {
      auto it = r->trunk.levels.find(row.level);
      if (it == r->trunk.levels.end() || it->second.per_tensor.empty()) continue;
      ++contributing;
      for (const auto& [name, c] : it->second.per_tensor) {
        pooled[name].total += c.total;
        pooled[name].pruned += c.pruned;
      }
    }
    if (contributing > 0) out.push_back(matrices_of(row.level, row.sparsity, contributing, pooled));
  }
  return out;
}

// IoU between consecutive levels of each run's trunk, one row per pair of levels.
std::vector<OverlapRow> consecutive_overlap(const std::vector<const RunData*>& runs, Problems& problems) {
  std::map<std::pair<int, int>, OverlapRow> overlap;
  for (const RunData* r : runs) {
    const LevelData* prev = nullptr;
    for (const auto& [k, level] : r->trunk.levels) {
      if (level.mask_path.empty()) {
        prev = nullptr;
        continue;
      }
      if (prev != nullptr) {
        if (auto iou = mask_iou(prev->mask_path, level.mask_path, problems)) {
          OverlapRow& row = overlap[{prev->level, k}];
          row.from_level = prev->level;
          row.to_level = k;
          row.from_sparsity = prev->sparsity.value_or(0.0);
          row.to_sparsity = level.sparsity.value_or(0.0);
          row.seeds.push_back(r->seed);
          row.iou.values.push_back(*iou);
        }
      }
      prev = &level;
    }
  }
  std::vector<OverlapRow> out;
  for (auto& [key, row] : overlap) {
    row.iou = make_stat(row.iou.values);
    out.push_back(row);
  }
  return out;
}

Group make_group(const std::vector<const RunData*>& runs, Problems& problems) {
  Group g;
  g.task = runs.front()->task;
  g.metric = runs.front()->metric;
  std::vector<double> dense;
  std::vector<const BranchData*> trunks;
  std::set<std::string> baseline_names;
  for (const RunData* r : runs) {
    g.runs.push_back(r->path);
    g.seeds.push_back(r->seed);
    g.config_hashes.push_back(r->config_hash);
    if (r->dense) dense.push_back(*r->dense);
    trunks.push_back(&r->trunk);
    auto& list = r->prune_new_params ? g.new_pruned : g.new_excluded;
    for (const auto& n : r->new_parameters)
      if (std::find(list.begin(), list.end(), n) == list.end()) list.push_back(n);
    for (const auto& [name, b] : r->baselines) baseline_names.insert(name);
    if (r->metric != g.metric) {
      problems.add(fmt::format("{}: metric \"{}\" differs from \"{}\" of {}", r->path, r->metric, g.metric, runs.front()->path));
    }
  }
  g.dense = make_stat(dense);
  g.levels = branch_rows(trunks, g.dense);
  for (const std::string& name : baseline_names) {
    std::vector<const BranchData*> branches;
    for (const RunData* r : runs) {
      auto it = r->baselines.find(name);
      if (it != r->baselines.end()) branches.push_back(&it->second);
    }
    g.baselines[name] = branch_rows(branches, g.dense);
  }
  g.matrices = pooled_matrices(runs, g.levels);
  g.overlap = consecutive_overlap(runs, problems);
  return g;
}

// The level of `run` closest in sparsity to `s` (within the tolerance) that has a mask.
const LevelData* level_near(const RunData& run, double s) {
  const LevelData* best = nullptr;
  for (const auto& [k, level] : run.trunk.levels) {
    if (level.mask_path.empty() || !level.sparsity) continue;
    const double d = std::abs(*level.sparsity - s);
    if (d <= kSparsityTolerance && (best == nullptr || d < std::abs(*best->sparsity - s))) best = &level;
  }
  return best;
}

std::vector<SimilarityMatrix> similarity(const std::vector<RunData>& runs, const std::vector<std::vector<int>>& members,
                                         const std::vector<Group>& groups, Problems& problems) {
  std::vector<double> points;
  for (const RunData& r : runs) {
    for (const auto& [k, level] : r.trunk.levels) {
      if (k > 0 && !level.mask_path.empty() && level.sparsity && *level.sparsity > 0.0) points.push_back(*level.sparsity);
    }
  }
  std::sort(points.begin(), points.end());
  std::vector<double> unique;
  for (double p : points) {
    if (unique.empty() || p - unique.back() > kSparsityTolerance) unique.push_back(p);
  }
  std::vector<SimilarityMatrix> out;
  for (double p : unique) {
    SimilarityMatrix m;
    m.sparsity = p;
    std::vector<std::vector<const LevelData*>> chosen;
    for (size_t g = 0; g < members.size(); ++g) {
      std::vector<const LevelData*> levels;
      for (int r : members[g]) {
        if (const LevelData* l = level_near(runs[static_cast<size_t>(r)], p)) levels.push_back(l);
      }
      if (levels.empty()) continue;
      m.groups.push_back(static_cast<int>(g));
      m.labels.push_back(groups[g].label);
      chosen.push_back(levels);
    }
    const size_t n = chosen.size();
    m.iou.assign(n, std::vector<std::optional<double>>(n));
    m.pairs.assign(n, std::vector<int>(n, 0));
    bool any = false;
    for (size_t a = 0; a < n; ++a) {
      for (size_t b = a; b < n; ++b) {
        double sum = 0.0;
        int count = 0;
        for (size_t i = 0; i < chosen[a].size(); ++i) {
          for (size_t j = (a == b ? i + 1 : 0); j < chosen[b].size(); ++j) {
            if (auto iou = mask_iou(chosen[a][i]->mask_path, chosen[b][j]->mask_path, problems)) {
              sum += *iou;
              ++count;
            }
          }
        }
        if (count > 0) {
          m.iou[a][b] = m.iou[b][a] = sum / count;
          any = true;
        }
        m.pairs[a][b] = m.pairs[b][a] = count;
      }
    }
    if (any) out.push_back(std::move(m));
  }
  return out;
}

std::optional<TransferMatrix> read_transfer(const Json& j, const std::string& path, Problems& problems) {
  try {
    TransferMatrix t;
    t.path = path;
    LTH_CHECK(j.is_object(), IoError, "{}: expected a JSON object", path);
    LTH_CHECK(j.value("schema", 0) == 1, IoError, "{}: \"schema\" must be 1", path);
    t.metric = j.value("metric", std::string());
    t.sources = j.at("sources").get<std::vector<std::string>>();
    t.targets = j.at("targets").get<std::vector<std::string>>();
    const Json& scores = j.at("scores");
    LTH_CHECK(scores.is_array() && scores.size() == t.sources.size(), IoError,
              "{}: \"scores\" needs one row per source ({})", path, t.sources.size());
    for (const Json& row : scores) {
      LTH_CHECK(row.is_array() && row.size() == t.targets.size(), IoError,
                "{}: every \"scores\" row needs one value per target ({})", path, t.targets.size());
      std::vector<std::optional<double>> values;
      for (const Json& v : row) {
        LTH_CHECK(v.is_number() || v.is_null(), IoError, "{}: scores must be numbers or null", path);
        values.push_back(v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()));
      }
      t.scores.push_back(std::move(values));
    }
    return t;
  } catch (const Error& e) {
    problems.add(fmt::format("{}; no transfer matrix", e.what()));
  } catch (const nlohmann::json::exception& e) {
    problems.add(fmt::format("{}: malformed transfer matrix ({}); ignored", path, e.what()));
  }
  return std::nullopt;
}

Json opt(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }
Json opt(const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); }
Json opt(const std::optional<bool>& v) { return v ? Json(*v) : Json(nullptr); }

Json stat_json(const Stat& s) {
  return Json{{"n", s.n()}, {"mean", s.n() > 0 ? Json(s.mean) : Json(nullptr)}, {"std", opt(s.std)}, {"values", s.values}};
}

Json count_json(const Cell& c) {
  return Json{{"total", c.total}, {"pruned", c.pruned}, {"sparsity", c.sparsity()}};
}

Json rows_json(const std::vector<LevelRow>& rows) {
  Json out = Json::array();
  for (const LevelRow& r : rows) {
    out.push_back(Json{{"level", r.level},
                       {"sparsity", r.sparsity},
                       {"metric", stat_json(r.metric)},
                       {"delta", opt(r.delta)},
                       {"matching", opt(r.matching)},
                       {"matching_strict", opt(r.matching_strict)}});
  }
  return out;
}

}  // namespace

std::optional<int> sparsest_matching_level(const Group& group) {
  std::optional<int> best;
  double best_sparsity = -1.0;
  for (const LevelRow& r : group.levels) {
    if (r.level > 0 && r.matching && *r.matching && r.sparsity > best_sparsity) {
      best = r.level;
      best_sparsity = r.sparsity;
    }
  }
  return best;
}

Stat make_stat(std::vector<double> values) {
  Stat s;
  s.values = std::move(values);
  if (s.values.empty()) return s;
  double sum = 0.0;
  for (double v : s.values) sum += v;
  s.mean = sum / static_cast<double>(s.values.size());
  if (s.values.size() >= 2) {
    double ss = 0.0;
    for (double v : s.values) ss += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(s.values.size() - 1));
  }
  return s;
}

Format parse_format(const std::string& name) {
  if (name == "md" || name == "markdown") return Format::kMarkdown;
  if (name == "json") return Format::kJson;
  if (name == "html") return Format::kHtml;
  LTH_FAIL(UsageError, "unknown report format \"{}\" (md, json or html)", name);
}

namespace {

// A file input: a transfer matrix or a multiplexing bench, told apart by their content.
void read_file_input(const std::string& path, std::optional<TransferMatrix>& transfer, std::optional<MuxFrontier>& mux,
                     Problems& problems) {
  Json j;
  try {
    j = read_json_file(path);
  } catch (const Error& e) {
    problems.add(fmt::format("{}; ignored", e.what()));
    return;
  }
  if (is_mux_bench_json(j)) {
    if (mux) {
      problems.add(fmt::format("{}: a second multiplexing bench; ignored", path));
      return;
    }
    try {
      mux = read_mux_frontier(j, path);
    } catch (const Error& e) {
      problems.add(fmt::format("{}; no multiplexing section", e.what()));
    }
    return;
  }
  if (transfer) problems.add(fmt::format("{}: a second transfer matrix; ignored", path));
  else transfer = read_transfer(j, path, problems);
}

// The run directories of the inputs (a directory of run directories is expanded), and the transfer
// matrix and multiplexing bench when given; what cannot be read becomes a problem.
std::vector<RunData> read_inputs(const std::vector<std::string>& inputs, std::optional<TransferMatrix>& transfer,
                                 std::optional<MuxFrontier>& mux, Problems& problems) {
  std::vector<RunData> runs;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (fs::is_regular_file(input, ec)) {
      read_file_input(input, transfer, mux, problems);
      continue;
    }
    if (!fs::exists(input, ec)) {
      problems.add(fmt::format("{}: does not exist; skipped", input));
      continue;
    }
    std::vector<std::string> dirs;
    if (fs::is_directory(input, ec) && !is_run_dir(input)) {
      // A directory of run directories (lth prune --out RUNS_DIR).
      for (fs::directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_directory(ec) && is_run_dir(it->path().string())) dirs.push_back(it->path().string());
      }
      std::sort(dirs.begin(), dirs.end());
    }
    if (dirs.empty()) dirs.push_back(input);
    for (const std::string& dir : dirs) {
      if (auto run = load_run(dir, problems)) runs.push_back(std::move(*run));
    }
  }
  return runs;
}

// Indices of the runs that share the config apart from the seed, groups in order of first appearance,
// seeds in ascending order.
std::vector<std::vector<int>> group_members(const std::vector<RunData>& runs) {
  std::vector<std::string> keys;
  std::vector<std::vector<int>> members;
  for (size_t i = 0; i < runs.size(); ++i) {
    auto it = std::find(keys.begin(), keys.end(), runs[i].group_key);
    if (it == keys.end()) {
      keys.push_back(runs[i].group_key);
      members.push_back({static_cast<int>(i)});
    } else {
      members[static_cast<size_t>(it - keys.begin())].push_back(static_cast<int>(i));
    }
  }
  for (auto& m : members) {
    std::stable_sort(m.begin(), m.end(), [&](int a, int b) {
      return runs[static_cast<size_t>(a)].seed.value_or(INT64_MAX) < runs[static_cast<size_t>(b)].seed.value_or(INT64_MAX);
    });
  }
  return members;
}

}  // namespace

Report build_report(const std::vector<std::string>& inputs) {
  Problems problems;
  Report report;
  std::vector<RunData> runs = read_inputs(inputs, report.transfer, report.mux, problems);
  if (runs.empty() && !report.mux) {
    LTH_FAIL(IoError, "no readable IMP run directory or multiplexing bench among {} input(s){}", inputs.size(),
             problems.list().empty() ? "" : fmt::format(" (first problem: {})", problems.list().front()));
  }
  const std::vector<std::vector<int>> members = group_members(runs);
  std::map<std::string, int> per_task;
  for (const auto& m : members) per_task[runs[static_cast<size_t>(m.front())].task]++;
  for (size_t g = 0; g < members.size(); ++g) {
    std::vector<const RunData*> group_runs;
    for (int r : members[g]) group_runs.push_back(&runs[static_cast<size_t>(r)]);
    Group group = make_group(group_runs, problems);
    group.label = group.task.empty() ? "(unknown task)" : group.task;
    if (per_task[group.task] > 1) group.label += fmt::format(" [g{}]", g);
    for (int r : members[g]) {
      const RunData& run = runs[static_cast<size_t>(r)];
      int levels = static_cast<int>(run.trunk.levels.size());
      report.runs.push_back(RunInfo{run.path, run.task, run.metric, run.config_hash, run.seed, static_cast<int>(g), levels});
    }
    report.groups.push_back(std::move(group));
  }
  report.similarity = similarity(runs, members, report.groups, problems);
  report.warnings = problems.list();
  return report;
}

namespace {

Json opt_list(const std::vector<std::optional<int64_t>>& values) {
  Json out = Json::array();
  for (const auto& v : values) out.push_back(opt(v));
  return out;
}

Json opt_matrix(const std::vector<std::vector<std::optional<double>>>& rows) {
  Json out = Json::array();
  for (const auto& row : rows) {
    Json r = Json::array();
    for (const auto& v : row) r.push_back(opt(v));
    out.push_back(r);
  }
  return out;
}

Json runs_json(const std::vector<RunInfo>& runs) {
  Json out = Json::array();
  for (const RunInfo& r : runs) {
    out.push_back(Json{{"path", r.path}, {"task", r.task}, {"metric", r.metric}, {"config_hash", r.config_hash},
                       {"seed", opt(r.seed)}, {"group", r.group}, {"levels", r.levels}});
  }
  return out;
}

Json level_matrices_json(const LevelMatrices& m) {
  Json layers = Json::array();
  for (const LayerSparsity& l : m.layers) {
    Json mats = Json::object();
    for (int i = 0; i < kMatrixCount; ++i) {
      mats[kMatrixNames[static_cast<size_t>(i)]] = l.matrices[static_cast<size_t>(i)] ? count_json(*l.matrices[static_cast<size_t>(i)]) : Json(nullptr);
    }
    layers.push_back(Json{{"layer", l.layer}, {"matrices", mats}, {"total", l.total}, {"remaining", l.remaining},
                          {"remaining_fraction", l.total > 0 ? Json(l.remaining / l.total) : Json(nullptr)}});
  }
  Json other = Json::object();
  for (const auto& [name, c] : m.other) other[name] = count_json(c);
  return Json{{"level", m.level}, {"sparsity", m.sparsity}, {"runs", m.runs}, {"layers", layers},
              {"pooler", m.pooler ? count_json(*m.pooler) : Json(nullptr)}, {"other", other}};
}

Json overlap_json(const std::vector<OverlapRow>& rows) {
  Json out = Json::array();
  for (const OverlapRow& o : rows) {
    out.push_back(Json{{"from_level", o.from_level}, {"to_level", o.to_level}, {"from_sparsity", o.from_sparsity},
                       {"to_sparsity", o.to_sparsity}, {"seeds", opt_list(o.seeds)}, {"iou", stat_json(o.iou)}});
  }
  return out;
}

Json group_json(const Group& g) {
  Json gj;
  gj["label"] = g.label;
  gj["task"] = g.task;
  gj["metric"] = g.metric;
  gj["runs"] = g.runs;
  gj["seeds"] = opt_list(g.seeds);
  gj["config_hashes"] = g.config_hashes;
  gj["dense"] = stat_json(g.dense);
  gj["levels"] = rows_json(g.levels);
  Json baselines = Json::object();
  for (const auto& [name, rows] : g.baselines) baselines[name] = rows_json(rows);
  gj["baselines"] = baselines;
  gj["new_excluded"] = g.new_excluded;
  gj["new_pruned"] = g.new_pruned;
  const auto sparsest = sparsest_matching_level(g);
  gj["sparsest_matching_level"] = sparsest ? Json(*sparsest) : Json(nullptr);
  Json matrices = Json::array();
  for (const LevelMatrices& m : g.matrices) matrices.push_back(level_matrices_json(m));
  gj["matrices"] = matrices;
  gj["overlap"] = overlap_json(g.overlap);
  return gj;
}

Json similarity_json(const std::vector<SimilarityMatrix>& matrices) {
  Json out = Json::array();
  for (const SimilarityMatrix& m : matrices) {
    out.push_back(Json{{"sparsity", m.sparsity}, {"groups", m.groups}, {"labels", m.labels}, {"iou", opt_matrix(m.iou)},
                       {"pairs", m.pairs}});
  }
  return out;
}

Json transfer_json(const std::optional<TransferMatrix>& transfer) {
  if (!transfer) return nullptr;
  const TransferMatrix& t = *transfer;
  return Json{{"path", t.path}, {"metric", t.metric}, {"sources", t.sources}, {"targets", t.targets},
              {"scores", opt_matrix(t.scores)}};
}

Json mux_json(const std::optional<MuxFrontier>& mux) {
  if (!mux) return nullptr;
  Json points = Json::array();
  for (const MuxPoint& p : mux->points) {
    Json curve = Json::array();
    for (const auto& [step, value] : p.warmup_curve) curve.push_back(Json{{"step", step}, {"retrieval_accuracy", value}});
    points.push_back(Json{{"n", p.n}, {"mux", p.mux}, {"demux", p.demux}, {"pooling", p.pooling}, {"mask", p.mask}, {"sparsity", p.sparsity},
                          {"instances_per_s", p.instances_per_s}, {"speedup", p.speedup}, {"run", p.run},
                          {"task", p.task}, {"metric", p.metric}, {"value", opt(p.value)},
                          {"retrieval_accuracy", opt(p.retrieval)}, {"warmup_retrieval_accuracy", opt(p.warmup_retrieval)},
                          {"warmup_unigram_accuracy", opt(p.unigram)}, {"warmup_curve", curve}});
  }
  return Json{{"path", mux->path}, {"model", mux->model}, {"seq_len", mux->seq_len}, {"threads", mux->threads},
              {"rounds", mux->rounds}, {"points", points}};
}

}  // namespace

std::string render_json(const Report& report) {
  Json j = Json::object();
  j["schema"] = 1;
  j["generator"] = std::string("lth ") + LTH_VERSION;
  j["runs"] = runs_json(report.runs);
  Json groups = Json::array();
  for (const Group& g : report.groups) groups.push_back(group_json(g));
  j["groups"] = groups;
  j["similarity"] = similarity_json(report.similarity);
  j["transfer"] = transfer_json(report.transfer);
  j["mux"] = mux_json(report.mux);
  j["warnings"] = report.warnings;
  return j.dump(2) + "\n";
}

std::string render(const Report& report, Format format) {
  switch (format) {
    case Format::kJson: return render_json(report);
    case Format::kHtml: return render_html(report);
    case Format::kMarkdown: break;
  }
  return render_markdown(report);
}

void run_report(const ReportOptions& options) {
  LTH_CHECK(!options.inputs.empty(), UsageError, "lth report needs at least one run directory");
  Format format = Format::kMarkdown;
  if (options.format) {
    format = *options.format;
  } else if (!options.out.empty()) {
    const std::string ext = fs::path(options.out).extension().string();
    if (ext == ".html" || ext == ".htm") format = Format::kHtml;
    else if (ext == ".json") format = Format::kJson;
  }
  const Report report = build_report(options.inputs);
  const std::string text = render(report, format);
  if (options.out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else {
    write_file_atomic(options.out, text);
    log::info("report", "wrote {} ({} run(s), {} group(s), {} warning(s))", options.out, report.runs.size(),
              report.groups.size(), report.warnings.size());
  }
}

}  // namespace lth::report
