// The multiplexing section's input: what `lth mux bench --json` prints (lib/mux/bench_report.cpp
// writes it; FORMATS.md describes it), read without LibTorch.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report/report.h"

namespace lth::report {

// True when `j` looks like `lth mux bench --json` output (an object with "rows" and "seq_len").
bool is_mux_bench_json(const nlohmann::json& j);

// One point per (configuration, trained run), configurations without a run as points without one.
// IoError naming `path` and the field when the JSON does not have the bench's shape.
MuxFrontier read_mux_frontier(const nlohmann::json& j, const std::string& path);

}  // namespace lth::report
