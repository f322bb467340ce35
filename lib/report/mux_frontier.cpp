#include "report/mux_frontier.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lth::report {
namespace {

using Json = nlohmann::json;

std::optional<double> number(const Json& j, const std::string& key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

template <typename T>
T field(const Json& j, const std::string& key, const std::string& where) {
  const auto it = j.find(key);
  LTH_CHECK(it != j.end(), IoError, "{}: missing \"{}\"", where, key);
  try {
    return it->get<T>();
  } catch (const Json::exception&) {
    LTH_FAIL(IoError, "{}: \"{}\" has the wrong type", where, key);
  }
}

}  // namespace

bool is_mux_bench_json(const Json& j) { return j.is_object() && j.contains("rows") && j.contains("seq_len"); }

MuxFrontier read_mux_frontier(const Json& j, const std::string& path) {
  MuxFrontier f;
  f.path = path;
  f.model = field<std::string>(j, "model", path);
  f.seq_len = field<int64_t>(j, "seq_len", path);
  f.threads = field<int64_t>(j, "threads", path);
  f.rounds = field<int64_t>(j, "rounds", path);
  const Json& rows = j.at("rows");
  LTH_CHECK(rows.is_array(), IoError, "{}: \"rows\" must be an array", path);
  for (size_t k = 0; k < rows.size(); ++k) {
    const Json& row = rows[k];
    const std::string where = fmt::format("{}: rows[{}]", path, k);
    LTH_CHECK(row.is_object(), IoError, "{}: not an object", where);
    MuxPoint base;
    base.n = field<int64_t>(row, "n", where);
    base.mux = row.value("mux", "");
    base.demux = row.value("demux", "");
    base.pooling = row.value("pooling", "");
    base.mask = row.value("mask", "");
    base.sparsity = row.value("sparsity", 0.0);
    base.instances_per_s = field<double>(row, "instances_per_s", where);
    base.speedup = field<double>(row, "speedup", where);
    const auto runs = row.find("runs");
    if (runs == row.end() || !runs->is_array() || runs->empty()) {
      f.points.push_back(base);
      continue;
    }
    for (size_t r = 0; r < runs->size(); ++r) {
      const Json& run = (*runs)[r];
      const std::string rwhere = fmt::format("{}.runs[{}]", where, r);
      LTH_CHECK(run.is_object(), IoError, "{}: not an object", rwhere);
      MuxPoint p = base;
      p.run = field<std::string>(run, "dir", rwhere);
      p.task = run.value("task", "");
      p.metric = run.value("metric", "");
      if (!p.metric.empty()) p.value = number(run, p.metric);
      p.retrieval = number(run, "retrieval_accuracy");
      p.warmup_retrieval = number(run, "warmup_retrieval_accuracy");
      p.unigram = number(run, "warmup_unigram_accuracy");
      if (const auto curve = run.find("warmup_curve"); curve != run.end() && curve->is_array()) {
        for (const Json& c : *curve) {
          LTH_CHECK(c.is_object(), IoError, "{}: warmup_curve entries must be objects", rwhere);
          p.warmup_curve.emplace_back(field<int64_t>(c, "step", rwhere), field<double>(c, "retrieval_accuracy", rwhere));
        }
      }
      f.points.push_back(std::move(p));
    }
  }
  return f;
}

}  // namespace lth::report
