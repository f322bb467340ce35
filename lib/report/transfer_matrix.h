// The table `lth transfer --matrix` writes: every source mask × every target task, scored by the
// targets' main metric. transfer-matrix.json is the schema `lth report` reads (report.h's
// TransferMatrix); transfer-matrix.md shows it as a Markdown table (– where a run has no score).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report/report.h"

namespace lth::report {

nlohmann::json transfer_matrix_json(const TransferMatrix& matrix);
std::string render_transfer_markdown(const TransferMatrix& matrix);

// Writes <dir>/transfer-matrix.json and <dir>/transfer-matrix.md atomically; returns the Markdown.
std::string write_transfer_matrix(const TransferMatrix& matrix, const std::string& dir);

}  // namespace lth::report
