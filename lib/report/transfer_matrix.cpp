#include "report/transfer_matrix.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/file.h"

namespace lth::report {

nlohmann::json transfer_matrix_json(const TransferMatrix& m) {
  nlohmann::json scores = nlohmann::json::array();
  for (const auto& row : m.scores) {
    nlohmann::json r = nlohmann::json::array();
    for (const auto& v : row) r.push_back(v ? nlohmann::json(*v) : nlohmann::json());  // null: no score, never a fake 0
    scores.push_back(r);
  }
  return {{"schema", 1}, {"sources", m.sources}, {"targets", m.targets}, {"scores", scores}, {"metric", m.metric}};
}

std::string render_transfer_markdown(const TransferMatrix& m) {
  std::string md = fmt::format("| source \\ target | {} |\n|---|", fmt::join(m.targets, " | "));
  for (size_t i = 0; i < m.targets.size(); ++i) md += "---|";
  md += "\n";
  for (size_t i = 0; i < m.sources.size(); ++i) {
    md += "| " + m.sources[i] + " |";
    for (const auto& v : m.scores[i]) md += v ? fmt::format(" {:.4f} |", *v) : std::string(" – |");
    md += "\n";
  }
  return md;
}

std::string write_transfer_matrix(const TransferMatrix& m, const std::string& dir) {
  write_file_atomic(dir + "/transfer-matrix.json", transfer_matrix_json(m).dump(2) + "\n");
  const std::string md = render_transfer_markdown(m);
  write_file_atomic(dir + "/transfer-matrix.md", md);
  return md;
}

}  // namespace lth::report
