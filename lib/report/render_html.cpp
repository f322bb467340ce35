// The HTML report: one self-contained file (inline CSS and SVG, no scripts, fonts or network), with a
// print stylesheet and a stable id on every section and plot.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include <fmt/format.h>

#include "report/report.h"
#include "report/svg.h"
#include "report/text.h"

namespace lth::report {
namespace {

using svg::escape;

constexpr const char* kStyle = R"CSS(
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa; --accent: #0b3d6b; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--soft); line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; font-size: 15px; }
header { background: var(--accent); color: #fff; padding: 22px 32px 16px; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; }
header p { margin: 0; opacity: .85; }
nav { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 6px 18px; }
nav a { color: #fff; text-decoration: none; border-bottom: 1px solid rgba(255,255,255,.4); }
main { max-width: 1180px; margin: 0 auto; padding: 4px 24px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 6px 24px 18px; margin: 18px 0; }
h2 { font-size: 20px; margin: 14px 0 6px; color: var(--accent); }
h3 { font-size: 16px; margin: 18px 0 6px; }
h4 { font-size: 14px; margin: 14px 0 4px; color: var(--muted); }
p.note { color: var(--muted); margin: 4px 0 10px; font-size: 14px; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; margin: 6px 0 12px; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--soft); font-weight: 600; border-bottom: 2px solid var(--line); }
th:first-child, td:first-child { text-align: left; }
tr.branch-start td { border-top: 2px solid var(--line); }
td.yes { color: #1a7f37; font-weight: 600; }
td.no { color: #cf222e; font-weight: 600; }
td.na { color: var(--muted); }
.grid { display: flex; flex-wrap: wrap; gap: 12px 18px; align-items: flex-start; }
figure { margin: 8px 0; }
figcaption { font-size: 12.5px; color: var(--muted); }
svg.plot { max-width: 100%; height: auto; display: block; }
svg .ptitle { font-size: 14px; font-weight: 600; fill: #1b1f24; }
svg .tick { font-size: 11px; fill: #444; }
svg .axis { font-size: 12.5px; fill: #222; }
svg .legend { font-size: 12px; fill: #222; }
svg .cell { font-size: 10px; }
svg .grid { stroke: #e6e6e6; stroke-width: 1; }
svg .frame { fill: none; stroke: #9a9a9a; }
code { font-size: 12.5px; background: var(--soft); padding: 1px 4px; border-radius: 3px; }
ul.warnings li { color: #9a6700; font-size: 13.5px; }
details > summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
@media print {
  body { background: #fff; font-size: 10.5pt; }
  header { background: none; color: #000; padding: 0 0 6pt; border-bottom: 1.5pt solid #000; }
  header p { opacity: 1; }
  nav { display: none; }
  main { max-width: none; padding: 0; }
  section { border: none; border-radius: 0; padding: 0; margin: 0 0 14pt; }
  h2 { color: #000; break-after: avoid; page-break-after: avoid; }
  h3, h4 { break-after: avoid; page-break-after: avoid; }
  figure, table, svg { break-inside: avoid; page-break-inside: avoid; }
  th { background: #eee; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
  @page { margin: 14mm; }
}
)CSS";

std::string matching_cell(const LevelRow& r, const Stat& dense) {
  const std::string t = text::matching(r, dense);
  const char* cls = r.matching ? (*r.matching ? "yes" : "no") : "na";
  return fmt::format("<td class=\"{}\">{}</td>", cls, escape(t));
}

void level_rows(std::string& o, const std::string& branch, const std::vector<LevelRow>& rows, const Stat& dense) {
  bool first = true;
  for (const LevelRow& r : rows) {
    o += fmt::format("<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td></tr>\n",
                     first ? " class=\"branch-start\"" : "", first ? escape(branch) : "", r.level, text::pct(r.sparsity),
                     escape(text::stat(r.metric)), r.metric.n(), text::delta(r.delta), matching_cell(r, dense),
                     escape(text::matching_strict(r)));
    first = false;
  }
}

void summary_section(std::string& o, const Report& report) {
  o += "<section id=\"summary\">\n<h2>Summary</h2>\n";
  o += "<p class=\"note\">Metric: mean ± sample standard deviation over seeds (runs sharing <code>config.json</code> apart "
       "from the seed). Matching (Chen et al. 2020): mean ≥ dense mean − dense std, which needs at least two dense seeds; "
       "matching (strict): mean ≥ dense mean.</p>\n";
  for (size_t gi = 0; gi < report.groups.size(); ++gi) {
    const Group& g = report.groups[gi];
    o += fmt::format("<h3>{}</h3>\n<p class=\"note\">metric <code>{}</code> · seeds {} · dense {} ({} seed{})</p>\n", escape(g.label),
                     escape(g.metric.empty() ? "?" : g.metric), escape(text::seeds(g.seeds)), escape(text::stat(g.dense)),
                     g.dense.n(), g.dense.n() == 1 ? "" : "s");
    if (const std::string note = text::new_parameters_note(g); !note.empty())
      o += fmt::format("<p class=\"note\" id=\"new-params-g{}\">{}</p>\n", gi, escape(note));
    o += fmt::format("<table id=\"summary-g{}\"><thead><tr><th>branch</th><th>level</th><th>sparsity</th><th>{}</th><th>seeds</th>"
                     "<th>Δ vs dense</th><th>matching</th><th>matching (strict)</th></tr></thead><tbody>\n",
                     gi, escape(g.metric.empty() ? "metric" : g.metric));
    level_rows(o, "IMP", g.levels, g.dense);
    for (const auto& [name, rows] : g.baselines) level_rows(o, name, rows, g.dense);
    o += "</tbody></table>\n";
    o += fmt::format("<p class=\"finding\" id=\"finding-g{}\"><strong>Finding.</strong> {}</p>\n", gi, escape(text::finding(g)));
  }
  o += "</section>\n";
}

void curves_section(std::string& o, const Report& report) {
  o += "<section id=\"curves\">\n<h2>Score vs sparsity</h2>\n";
  o += "<p class=\"note\">Points: mean over seeds, bars: ±1 std. Grey band: dense model mean ± 1 std (the matching "
       "threshold is its lower edge).</p>\n";
  for (size_t gi = 0; gi < report.groups.size(); ++gi) {
    const Group& g = report.groups[gi];
    svg::LineChart chart;
    chart.id = fmt::format("curve-g{}", gi);
    chart.title = g.label + " — " + (g.metric.empty() ? "metric" : g.metric) + " vs sparsity";
    chart.x_label = "sparsity (pruned fraction of prunable weights)";
    chart.y_label = g.metric.empty() ? "metric" : g.metric;
    if (g.dense.n() > 0) {
      chart.reference = g.dense.mean;
      chart.band = g.dense.std;
      chart.reference_label = g.dense.std ? "dense ± 1 std" : "dense (1 seed)";
    }
    auto add = [&](const std::string& name, const std::vector<LevelRow>& rows, size_t color, bool dashed) {
      svg::Series s;
      s.name = name;
      s.color = svg::palette(color);
      s.dashed = dashed;
      for (const LevelRow& r : rows) {
        if (r.metric.n() > 0) s.points.push_back(svg::Point{r.sparsity, r.metric.mean, r.metric.std});
      }
      std::sort(s.points.begin(), s.points.end(), [](const svg::Point& a, const svg::Point& b) { return a.x < b.x; });
      chart.series.push_back(std::move(s));
    };
    add("IMP", g.levels, 0, false);
    size_t color = 1;
    for (const auto& [name, rows] : g.baselines) add(name, rows, color++, true);
    o += "<figure>\n" + svg::line_chart(chart) + "</figure>\n";
  }
  o += "</section>\n";
}

void heatmap_section(std::string& o, const Report& report) {
  o += "<section id=\"heatmap\">\n<h2>Per-matrix sparsity</h2>\n";
  o += "<p class=\"note\">Pruned fraction per layer and matrix, pooled over seeds. Q, K, V: attention query/key/value; "
       "AO: attention output dense; I: intermediate dense; O: output dense. Darker = more pruned.</p>\n";
  for (size_t gi = 0; gi < report.groups.size(); ++gi) {
    const Group& g = report.groups[gi];
    o += fmt::format("<h3>{}</h3>\n", escape(g.label));
    if (g.matrices.empty()) {
      o += "<p class=\"note\">No per-tensor sparsity (sparsity.json or masks) found.</p>\n";
      continue;
    }
    o += "<div class=\"grid\">\n";
    for (const LevelMatrices& m : g.matrices) {
      svg::Heatmap h;
      h.id = fmt::format("heatmap-g{}-l{}", gi, m.level);
      h.title = fmt::format("level {} · {}", m.level, text::pct(m.sparsity));
      for (const char* c : kMatrixNames) h.cols.push_back(c);
      h.cell_width = 50;
      h.cell_height = 18;
      for (const LayerSparsity& l : m.layers) {
        h.rows.push_back(fmt::format("layer {}", l.layer));
        std::vector<std::optional<double>> row;
        for (const auto& c : l.matrices) row.push_back(c ? std::optional<double>(c->sparsity()) : std::nullopt);
        h.values.push_back(row);
      }
      if (m.pooler) {
        h.rows.push_back("pooler");
        std::vector<std::optional<double>> row(kMatrixCount);
        row[0] = m.pooler->sparsity();
        h.values.push_back(row);
      }
      o += "<figure>\n" + svg::heatmap(h) + "</figure>\n";
    }
    o += "</div>\n";
    for (const LevelMatrices& m : g.matrices) {
      o += fmt::format("<h4>{} — level {} ({})</h4>\n", escape(g.label), m.level, text::pct(m.sparsity));
      o += fmt::format("<table id=\"matrices-g{}-l{}\"><thead><tr><th>layer</th>", gi, m.level);
      for (const char* c : kMatrixNames) o += fmt::format("<th>{}</th>", c);
      o += "<th>remaining weights</th></tr></thead><tbody>\n";
      for (const LayerSparsity& l : m.layers) {
        o += fmt::format("<tr><td>{}</td>", l.layer);
        for (const auto& c : l.matrices) o += "<td>" + text::matrix_cell(c) + "</td>";
        o += "<td>" + text::remaining(l.remaining, l.total) + "</td></tr>\n";
      }
      if (m.pooler) {
        o += fmt::format("<tr><td>pooler</td><td>{}</td><td></td><td></td><td></td><td></td><td></td><td>{}</td></tr>\n",
                         text::pct(m.pooler->sparsity()), text::remaining(m.pooler->total - m.pooler->pruned, m.pooler->total));
      }
      for (const auto& [name, c] : m.other) {
        o += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td></td><td></td><td></td><td></td><td></td><td>{}</td></tr>\n",
                         escape(name), text::pct(c.sparsity()), text::remaining(c.total - c.pruned, c.total));
      }
      o += "</tbody></table>\n";
    }
  }
  o += "</section>\n";
}

void overlap_section(std::string& o, const Report& report) {
  o += "<section id=\"overlap\">\n<h2>Mask overlap</h2>\n";
  o += "<p class=\"note\">IoU (Jaccard index) of the kept weights, |A ∩ B| / |A ∪ B|. Masks only shrink across IMP levels, "
       "so consecutive-level IoU is the kept fraction that survives the next level.</p>\n<h3>Consecutive levels</h3>\n";
  for (size_t gi = 0; gi < report.groups.size(); ++gi) {
    const Group& g = report.groups[gi];
    o += fmt::format("<h4>{}</h4>\n", escape(g.label));
    if (g.overlap.empty()) {
      o += "<p class=\"note\">No two consecutive levels with readable masks.</p>\n";
      continue;
    }
    o += fmt::format("<table id=\"overlap-g{}\"><thead><tr><th>levels</th><th>sparsity</th><th>IoU</th><th>per seed</th></tr></thead><tbody>\n", gi);
    for (const OverlapRow& r : g.overlap) {
      std::string per;
      for (size_t i = 0; i < r.iou.values.size(); ++i) {
        per += fmt::format("{}{}: {:.4f}", per.empty() ? "" : ", ", text::seed(r.seeds[i]), r.iou.values[i]);
      }
      o += fmt::format("<tr><td>{} → {}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>\n", r.from_level, r.to_level,
                       text::pct(r.from_sparsity), text::pct(r.to_sparsity), escape(text::stat(r.iou)), escape(per));
    }
    o += "</tbody></table>\n";
  }
  o += "<h3 id=\"similarity\">Ticket similarity</h3>\n";
  if (report.similarity.empty()) {
    o += "<p class=\"note\">Needs masks of at least two runs at comparable sparsity (within 1 point).</p>\n";
  } else {
    o += "<p class=\"note\">Mean IoU over pairs of runs at comparable sparsity; the diagonal compares the seeds of one group "
         "(blank with a single seed).</p>\n<div class=\"grid\">\n";
  }
  for (size_t i = 0; i < report.similarity.size(); ++i) {
    const SimilarityMatrix& m = report.similarity[i];
    svg::Heatmap h;
    h.id = fmt::format("similarity-{}", i);
    h.title = fmt::format("ticket IoU at {} sparsity", text::pct(m.sparsity));
    h.rows = m.labels;
    h.cols = m.labels;
    h.values = m.iou;
    h.percent = false;
    h.cell_width = std::max(64, 8 * static_cast<int>(std::max_element(m.labels.begin(), m.labels.end(),
                                                                         [](const std::string& a, const std::string& b) { return a.size() < b.size(); })->size()));
    h.cell_height = 24;
    o += "<figure>\n" + svg::heatmap(h) + "</figure>\n";
  }
  if (!report.similarity.empty()) o += "</div>\n";
  o += "</section>\n";
}

void transfer_section(std::string& o, const Report& report) {
  o += "<section id=\"transfer\">\n<h2>Transfer</h2>\n";
  if (!report.transfer) {
    o += "<p class=\"note\">No transfer matrix given: pass a <code>transfer-matrix.json</code> to <code>lth report</code>.</p>\n";
    o += "</section>\n";
    return;
  }
  const TransferMatrix& t = *report.transfer;
  o += fmt::format("<p class=\"note\">A ticket found on the source task (rows) is applied to θ0 and fine-tuned on the target task "
                   "(columns); metric <code>{}</code>; from <code>{}</code>. Colours are relative within each target column.</p>\n",
                   escape(t.metric.empty() ? "?" : t.metric), escape(t.path));
  o += "<table id=\"transfer-table\"><thead><tr><th>source \\ target</th>";
  for (const auto& c : t.targets) o += "<th>" + escape(c) + "</th>";
  o += "</tr></thead><tbody>\n";
  for (size_t s = 0; s < t.sources.size(); ++s) {
    o += "<tr><td>" + escape(t.sources[s]) + "</td>";
    for (const auto& v : t.scores[s]) o += "<td>" + (v ? text::num(*v) : std::string("—")) + "</td>";
    o += "</tr>\n";
  }
  o += "</tbody></table>\n";
  svg::Heatmap h;
  h.id = "transfer-heatmap";
  h.title = "transfer: source ticket (rows) → target task (columns)";
  h.rows = t.sources;
  h.cols = t.targets;
  h.values = t.scores;
  h.percent = false;
  h.per_column = true;
  h.cell_width = 78;
  h.cell_height = 24;
  o += "<figure>\n" + svg::heatmap(h) + "</figure>\n</section>\n";
}

// The frontier (task metric vs speedup, one line per sparsity through its N values) and the
// retrieval warm-up curves against the unigram baseline.
void mux_section(std::string& o, const Report& report) {
  if (!report.mux) return;
  const MuxFrontier& f = *report.mux;
  o += "<section id=\"mux\">\n<h2>Multiplexing: accuracy × throughput</h2>\n";
  o += fmt::format("<p class=\"note\">Instances/s measured side by side by <code>lth mux bench</code> ({}, seq-len {}, {} threads, "
                   "{} interleaved rounds; speedup over the first dense N=1 configuration) from <code>{}</code>, beside each "
                   "trained run's scores. Unigram: always guessing the most frequent token.</p>\n",
                   escape(f.model), f.seq_len, f.threads, f.rounds, escape(f.path));
  o += "<table id=\"mux-table\"><thead><tr><th>N</th><th>sparsity</th><th>mux / demux</th><th>instances/s</th><th>speedup</th>"
       "<th>task</th><th>metric</th><th>value</th><th>retrieval</th><th>warm-up retrieval</th><th>unigram</th><th>run</th></tr></thead><tbody>\n";
  for (const MuxPoint& p : f.points) {
    o += fmt::format("<tr><td>{}</td><td>{}</td><td>{} / {}</td><td>{:.1f}</td><td>{:.2f}x</td><td>{}</td><td>{}</td><td>{}</td>"
                     "<td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
                     p.n, text::mux_sparsity(p), escape(p.mux), escape(p.demux), p.instances_per_s, p.speedup,
                     escape(p.run.empty() ? "—" : (p.task.empty() ? "warm-up" : p.task)), escape(p.metric),
                     text::opt_num(p.value), text::opt_num(p.retrieval), text::opt_num(p.warmup_retrieval),
                     text::opt_num(p.unigram), escape(p.run));
  }
  o += "</tbody></table>\n";
  // One series per sparsity and mux/demux, its points in N order (= throughput order).
  std::map<std::string, std::vector<const MuxPoint*>> lines;
  for (const MuxPoint& p : f.points) {
    if (p.value) lines[text::mux_sparsity(p) + " " + p.mux + "/" + p.demux + (p.pooling.empty() ? "" : "/" + p.pooling)].push_back(&p);
  }
  if (!lines.empty()) {
    svg::LineChart chart{"mux-frontier", "task metric vs throughput (points: N = 1, 2, 5, 10, ...)",
                         "speedup over dense N=1 (instances/s)", "task metric", false};
    for (const auto& [name, points] : lines) {
      std::vector<svg::Point> xy;
      for (const MuxPoint* p : points) xy.push_back(svg::Point{p->speedup, *p->value, std::nullopt});
      std::sort(xy.begin(), xy.end(), [](const svg::Point& a, const svg::Point& b) { return a.x < b.x; });
      chart.series.push_back(svg::Series{name, svg::palette(chart.series.size()), false, std::move(xy)});
    }
    o += "<figure>\n" + svg::line_chart(chart) + "</figure>\n";
  }
  svg::LineChart curves{"mux-warmup", "retrieval accuracy on held-out text over the warm-up", "warm-up step",
                        "retrieval accuracy", false};
  for (const MuxPoint& p : f.points) {
    if (p.warmup_curve.empty()) continue;
    std::vector<svg::Point> xy;
    for (const auto& [step, value] : p.warmup_curve) xy.push_back(svg::Point{static_cast<double>(step), value, std::nullopt});
    curves.series.push_back(svg::Series{fmt::format("N={} {}", p.n, text::mux_sparsity(p)),
                                        svg::palette(curves.series.size()), false, std::move(xy)});
    if (p.unigram && !curves.reference) {
      curves.reference = *p.unigram;
      curves.reference_label = "unigram baseline";
    }
  }
  if (!curves.series.empty()) o += "<figure>\n" + svg::line_chart(curves) + "</figure>\n";
  o += "</section>\n";
}

void runs_section(std::string& o, const Report& report) {
  o += "<section id=\"runs\">\n<h2>Runs and warnings</h2>\n";
  o += "<table id=\"runs-table\"><thead><tr><th>run directory</th><th>task</th><th>seed</th><th>group</th><th>levels</th></tr></thead><tbody>\n";
  for (const RunInfo& r : report.runs) {
    o += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", escape(r.path), escape(r.task),
                     text::seed(r.seed), escape(report.groups[static_cast<size_t>(r.group)].label), r.levels);
  }
  o += "</tbody></table>\n";
  if (report.warnings.empty()) {
    o += "<p class=\"note\" id=\"warnings\">No warnings.</p>\n";
  } else {
    o += fmt::format("<h3>{} warning(s)</h3>\n<ul class=\"warnings\" id=\"warnings\">\n", report.warnings.size());
    for (const auto& w : report.warnings) o += "<li>" + escape(w) + "</li>\n";
    o += "</ul>\n";
  }
  o += "</section>\n";
}

}  // namespace

std::string render_html(const Report& report) {
  std::string tasks;
  for (const Group& g : report.groups) tasks += (tasks.empty() ? "" : ", ") + g.label;
  if (tasks.empty()) tasks = "multiplexing";
  std::string o = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  o += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  o += fmt::format("<meta name=\"generator\" content=\"lth {}\">\n<title>lth report — {}</title>\n", LTH_VERSION, escape(tasks));
  o += std::string("<style>") + kStyle + "</style>\n</head>\n<body>\n";
  if (report.groups.empty()) {  // a multiplexing bench alone: no IMP sections to fill
    o += fmt::format("<header>\n<h1>Multiplexing report</h1>\n<p>lth {}{}</p>\n", LTH_VERSION,
                     report.warnings.empty() ? "" : fmt::format(" · {} warning(s)", report.warnings.size()));
    o += "<nav><a href=\"#mux\">Multiplexing</a><a href=\"#runs\">Runs and warnings</a></nav>\n</header>\n<main>\n";
    mux_section(o, report);
    runs_section(o, report);
    o += "</main>\n</body>\n</html>\n";
    return o;
  }
  o += fmt::format("<header>\n<h1>Lottery-ticket report</h1>\n<p>{} · {} run{} in {} group{} · lth {}{}</p>\n", escape(tasks),
                   report.runs.size(), report.runs.size() == 1 ? "" : "s", report.groups.size(), report.groups.size() == 1 ? "" : "s",
                   LTH_VERSION, report.warnings.empty() ? "" : fmt::format(" · {} warning(s)", report.warnings.size()));
  o += "<nav><a href=\"#summary\">Summary</a><a href=\"#curves\">Curves</a><a href=\"#heatmap\">Per-matrix sparsity</a>"
       "<a href=\"#overlap\">Mask overlap</a><a href=\"#transfer\">Transfer</a>"
       "<a href=\"#mux\">Multiplexing</a><a href=\"#runs\">Runs and warnings</a></nav>\n</header>\n<main>\n";
  summary_section(o, report);
  curves_section(o, report);
  heatmap_section(o, report);
  overlap_section(o, report);
  transfer_section(o, report);
  mux_section(o, report);
  runs_section(o, report);
  o += "</main>\n</body>\n</html>\n";
  return o;
}

}  // namespace lth::report
