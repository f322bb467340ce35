// Number and cell formatting shared by the Markdown and HTML renderers.
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "report/report.h"

namespace lth::report::text {

inline std::string pct(double fraction) { return fmt::format("{:.1f}%", fraction * 100.0); }

inline std::string num(double v) { return fmt::format("{:.4f}", v); }

// "0.8100 ± 0.0050", "0.8100" (one seed) or "—" (no value).
inline std::string stat(const Stat& s) {
  if (s.n() == 0) return "—";
  return s.std ? fmt::format("{:.4f} ± {:.4f}", s.mean, *s.std) : num(s.mean);
}

inline std::string delta(const std::optional<double>& d) { return d ? fmt::format("{:+.4f}", *d) : "—"; }

// "yes", "no", "n/a (1 seed)", "n/a (no dense score)" or "—" (no score at this level).
inline std::string matching(const LevelRow& row, const Stat& dense) {
  if (row.matching) return *row.matching ? "yes" : "no";
  if (row.metric.n() == 0) return "—";
  if (dense.n() == 0) return "n/a (no dense score)";
  return "n/a (1 seed)";
}

// The strict form (mean >= dense mean): "yes", "no" or "—".
inline std::string matching_strict(const LevelRow& row) {
  return row.matching_strict ? (*row.matching_strict ? "yes" : "no") : "—";
}

// Which prunable-set matrices θ0 lacks and what was done with them ("" when θ0 holds them all).
inline std::string new_parameters_note(const Group& g) {
  auto list = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  std::string out;
  if (!g.new_excluded.empty()) {
    out += fmt::format("Not pruned: {} (not in θ0, the pretrained checkpoint: initialised at random when loaded, so "
                       "global magnitude ranking against pretrained weights would prune them first; "
                       "`lth prune --prune-new-params` includes them).", list(g.new_excluded));
  }
  if (!g.new_pruned.empty()) {
    out += fmt::format("{}Pruned although not in θ0 (--prune-new-params): {}.", out.empty() ? "" : " ", list(g.new_pruned));
  }
  return out;
}

inline std::string seed(const std::optional<int64_t>& s) { return s ? std::to_string(*s) : "?"; }

inline std::string seeds(const std::vector<std::optional<int64_t>>& list) {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : ", ") + seed(s);
  return out;
}

inline std::string matrix_cell(const std::optional<Cell>& c) { return c ? pct(c->sparsity()) : "—"; }

inline std::string count(double v) {
  return std::abs(v - std::round(v)) < 1e-9 ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v);
}

inline std::string remaining(double remaining, double total) {
  if (total <= 0) return "—";
  return fmt::format("{} / {} ({})", count(remaining), count(total), pct(remaining / total));
}

inline std::string branch_title(const std::string& name) { return name == "trunk" ? "IMP" : name; }

// One sentence: the sparsest matching IMP level and how every baseline does at that level.
inline std::string finding(const Group& g) {
  bool decidable = false;
  for (const LevelRow& r : g.levels) decidable = decidable || (r.level > 0 && r.matching.has_value());
  if (!decidable) return "Matching cannot be decided: it needs at least two seeds of the dense model.";
  const auto level = sparsest_matching_level(g);
  if (!level) return fmt::format("No pruned IMP level matches the dense model ({}).", stat(g.dense));
  const LevelRow* trunk = nullptr;
  for (const LevelRow& r : g.levels)
    if (r.level == *level) trunk = &r;
  std::string out = fmt::format("Sparsest matching IMP level: {} ({} sparse), {} vs dense {}.", *level, pct(trunk->sparsity),
                                stat(trunk->metric), stat(g.dense));
  for (const auto& [name, rows] : g.baselines) {
    for (const LevelRow& r : rows) {
      if (r.level != *level || r.metric.n() == 0) continue;
      out += fmt::format(" Baseline {} at that level: {}, {} ({}).", name, stat(r.metric), delta(r.delta),
                         r.matching ? (*r.matching ? "matching" : "not matching") : "matching undecided");
    }
  }
  return out;
}

// A multiplexing point's configuration: "dense" or the mask's sparsity, then N and mux/demux.
inline std::string mux_sparsity(const MuxPoint& p) { return p.mask.empty() ? "dense" : pct(p.sparsity); }
inline std::string opt_num(const std::optional<double>& v) { return v ? num(*v) : "—"; }
// A warm-up curve as "step: accuracy, ...".
inline std::string curve(const std::vector<std::pair<int64_t, double>>& points) {
  std::string out;
  for (const auto& [step, value] : points) out += fmt::format("{}{}: {:.3f}", out.empty() ? "" : ", ", step, value);
  return out.empty() ? "—" : out;
}

}  // namespace lth::report::text
