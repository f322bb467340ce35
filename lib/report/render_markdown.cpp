// The Markdown report: GitHub-flavoured tables; plots live in the HTML report.
#include <string>

#include <fmt/format.h>

#include "report/report.h"
#include "report/text.h"

namespace lth::report {
namespace {

std::string cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

void level_rows(std::string& o, const std::string& branch, const std::vector<LevelRow>& rows, const Stat& dense) {
  for (const LevelRow& r : rows) {
    o += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", cell(branch), r.level, text::pct(r.sparsity),
                     text::stat(r.metric), r.metric.n(), text::delta(r.delta), text::matching(r, dense),
                     text::matching_strict(r));
  }
}

// Header cells and separator of a table whose first column holds row labels and the rest numbers.
void matrix_header(std::string& o, const std::vector<std::string>& cols) {
  for (const auto& c : cols) o += " " + cell(c) + " |";
  o += "\n|---|";
  for (size_t i = 0; i < cols.size(); ++i) o += "---:|";
  o += "\n";
}

// One row per label: the label, then each value to 4 decimals ("—" where there is none); a blank line after.
void matrix_rows(std::string& o, const std::vector<std::string>& labels,
                 const std::vector<std::vector<std::optional<double>>>& values) {
  for (size_t r = 0; r < labels.size(); ++r) {
    o += "| " + cell(labels[r]) + " |";
    for (const auto& v : values[r]) o += " " + (v ? text::num(*v) : "—") + " |";
    o += "\n";
  }
  o += "\n";
}

void summary_section(std::string& o, const Report& report) {
  o += "## Summary\n\n";
  o += "Metric: mean ± sample standard deviation over seeds. Matching (Chen et al. 2020): mean ≥ dense mean − dense std; "
       "it needs at least two seeds of the dense model. Matching (strict): mean ≥ dense mean.\n\n";
  for (const Group& g : report.groups) {
    o += fmt::format("### {}\n\n", cell(g.label));
    o += fmt::format("Metric `{}`; seeds {}; dense {} ({} seed(s)).\n\n", g.metric.empty() ? "?" : g.metric, text::seeds(g.seeds),
                     text::stat(g.dense), g.dense.n());
    if (const std::string note = text::new_parameters_note(g); !note.empty()) o += cell(note) + "\n\n";
    o += fmt::format("| branch | level | sparsity | {} | seeds | Δ vs dense | matching | matching (strict) |\n"
                     "|---|---:|---:|---:|---:|---:|---|---|\n",
                     g.metric.empty() ? "metric" : cell(g.metric));
    level_rows(o, "IMP", g.levels, g.dense);
    for (const auto& [name, rows] : g.baselines) level_rows(o, name, rows, g.dense);
    o += "\n**Finding.** " + cell(text::finding(g)) + "\n\n";
  }
}

void level_matrices_table(std::string& o, const Group& g, const LevelMatrices& m) {
  o += fmt::format("### {} — level {} ({})\n\n", cell(g.label), m.level, text::pct(m.sparsity));
  o += "| layer | Q | K | V | AO | I | O | remaining |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const LayerSparsity& l : m.layers) {
    o += fmt::format("| {} |", l.layer);
    for (const auto& c : l.matrices) o += " " + text::matrix_cell(c) + " |";
    o += " " + text::remaining(l.remaining, l.total) + " |\n";
  }
  if (m.pooler) {
    o += fmt::format("| pooler | {} | | | | | | {} |\n", text::pct(m.pooler->sparsity()),
                     text::remaining(m.pooler->total - m.pooler->pruned, m.pooler->total));
  }
  for (const auto& [name, c] : m.other) {
    o += fmt::format("| `{}` | {} | | | | | | {} |\n", cell(name), text::pct(c.sparsity()), text::remaining(c.total - c.pruned, c.total));
  }
  o += "\n";
}

void matrices_section(std::string& o, const Report& report) {
  o += "## Per-matrix sparsity\n\n";
  o += "Pruned fraction per layer and matrix (Q, K, V = attention query/key/value, AO = attention output dense, "
       "I = intermediate dense, O = output dense), pooled over seeds; *remaining* = kept weights of the layer.\n\n";
  for (const Group& g : report.groups) {
    if (g.matrices.empty()) {
      o += fmt::format("### {}\n\nNo per-tensor sparsity (sparsity.json or masks) found.\n\n", cell(g.label));
    }
    for (const LevelMatrices& m : g.matrices) level_matrices_table(o, g, m);
  }
}

void consecutive_overlap(std::string& o, const Group& g) {
  o += fmt::format("#### {}\n\n", cell(g.label));
  if (g.overlap.empty()) {
    o += "No two consecutive levels with readable masks.\n\n";
    return;
  }
  o += "| from level | to level | sparsity | IoU | per seed |\n|---:|---:|---|---:|---|\n";
  for (const OverlapRow& r : g.overlap) {
    std::string per;
    for (size_t i = 0; i < r.iou.values.size(); ++i) {
      per += fmt::format("{}{}: {:.4f}", per.empty() ? "" : ", ", text::seed(r.seeds[i]), r.iou.values[i]);
    }
    o += fmt::format("| {} | {} | {} → {} | {} | {} |\n", r.from_level, r.to_level, text::pct(r.from_sparsity),
                     text::pct(r.to_sparsity), text::stat(r.iou), per);
  }
  o += "\n";
}

void overlap_section(std::string& o, const Report& report) {
  o += "## Mask overlap\n\n";
  o += "IoU (Jaccard index) of the kept weights: |A ∩ B| / |A ∪ B|.\n\n### Consecutive levels\n\n";
  for (const Group& g : report.groups) consecutive_overlap(o, g);
  o += "### Ticket similarity\n\n";
  if (report.similarity.empty()) o += "Needs masks of at least two runs at comparable sparsity.\n\n";
  for (const SimilarityMatrix& m : report.similarity) {
    o += fmt::format("At {} sparsity (mean IoU over pairs of runs; the diagonal compares seeds of one group):\n\n| |",
                     text::pct(m.sparsity));
    matrix_header(o, m.labels);
    matrix_rows(o, m.labels, m.iou);
  }
}

void transfer_section(std::string& o, const Report& report) {
  o += "## Transfer\n\n";
  if (!report.transfer) {
    o += "No transfer matrix given (pass a `transfer-matrix.json` to `lth report`).\n\n";
    return;
  }
  const TransferMatrix& t = *report.transfer;
  o += fmt::format("Ticket found on the source task (rows), fine-tuned on the target task (columns); metric `{}`; from `{}`.\n\n| source \\ target |",
                   t.metric.empty() ? "?" : t.metric, cell(t.path));
  matrix_header(o, t.targets);
  matrix_rows(o, t.sources, t.scores);
}

void mux_section(std::string& o, const Report& report) {
  if (!report.mux) return;
  const MuxFrontier& f = *report.mux;
  o += "## Multiplexing: accuracy × throughput\n\n";
  o += fmt::format("Instances/s of each configuration measured side by side by `lth mux bench` ({}, seq-len {}, {} threads, "
                   "{} interleaved rounds; speedup over the first dense N=1 configuration) from `{}`; beside it, the "
                   "trained run's task metric, its retrieval accuracy on the dev set, and after the warm-up its "
                   "retrieval accuracy on held-out text against the unigram baseline (always guessing the most "
                   "frequent token).\n\n",
                   cell(f.model), f.seq_len, f.threads, f.rounds, cell(f.path));
  o += "| N | sparsity | mux / demux | instances/s | speedup | task | metric | value | retrieval | warm-up retrieval | unigram | run |\n"
       "|---:|---:|---|---:|---:|---|---|---:|---:|---:|---:|---|\n";
  for (const MuxPoint& p : f.points) {
    o += fmt::format("| {} | {} | {} / {} | {:.1f} | {:.2f}x | {} | {} | {} | {} | {} | {} | {} |\n", p.n,
                     text::mux_sparsity(p), cell(p.mux), cell(p.demux), p.instances_per_s, p.speedup,
                     p.run.empty() ? "—" : cell(p.task.empty() ? "warm-up" : p.task), cell(p.metric), text::opt_num(p.value),
                     text::opt_num(p.retrieval), text::opt_num(p.warmup_retrieval), text::opt_num(p.unigram),
                     p.run.empty() ? "—" : "`" + cell(p.run) + "`");
  }
  o += "\n### Retrieval over the warm-up\n\nHeld-out retrieval accuracy at each evaluation (step: accuracy); "
       "the plot is in the HTML report.\n\n| N | sparsity | run | curve |\n|---:|---:|---|---|\n";
  for (const MuxPoint& p : f.points) {
    if (p.warmup_curve.empty()) continue;
    o += fmt::format("| {} | {} | `{}` | {} |\n", p.n, text::mux_sparsity(p), cell(p.run), text::curve(p.warmup_curve));
  }
  o += "\n";
}

void runs_section(std::string& o, const Report& report) {
  o += "## Runs and warnings\n\n| run | task | seed | group | levels |\n|---|---|---:|---:|---:|\n";
  for (const RunInfo& r : report.runs) {
    o += fmt::format("| `{}` | {} | {} | {} | {} |\n", cell(r.path), cell(r.task), text::seed(r.seed), cell(report.groups[static_cast<size_t>(r.group)].label), r.levels);
  }
  o += "\n";
  if (report.warnings.empty()) o += "No warnings.\n";
  for (const auto& w : report.warnings) o += "- " + cell(w) + "\n";
}

}  // namespace

std::string render_markdown(const Report& report) {
  if (report.groups.empty()) {  // a multiplexing bench alone: no IMP sections to fill
    std::string o = fmt::format("# Multiplexing report\n\nGenerated by lth {}.\n\n", LTH_VERSION);
    mux_section(o, report);
    runs_section(o, report);
    return o;
  }
  std::string o = "# Lottery-ticket report\n\n";
  o += fmt::format("Generated by lth {} from {} run director{} in {} group(s) (runs that share `config.json` apart from the "
                   "seed). Plots (score-vs-sparsity curves, heatmaps) are in the HTML report: `lth report ... --format html`.\n\n",
                   LTH_VERSION, report.runs.size(), report.runs.size() == 1 ? "y" : "ies", report.groups.size());
  if (!report.warnings.empty()) o += fmt::format("**{} warning(s)**: see [Runs and warnings](#runs-and-warnings).\n\n", report.warnings.size());
  summary_section(o, report);
  o += "## Curves\n\n";
  o += "Score vs sparsity for the IMP trunk and every baseline, with the dense model's ±1 std band, is drawn in the HTML "
       "report (section `#curves`).\n\n";
  matrices_section(o, report);
  overlap_section(o, report);
  transfer_section(o, report);
  mux_section(o, report);
  runs_section(o, report);
  return o;
}

}  // namespace lth::report
