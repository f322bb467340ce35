#include "report/svg.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace lth::report::svg {
namespace {

// "Nice" tick positions covering [lo, hi] with about `target` steps.
std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) hi = lo + 1.0;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (raw <= step) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(std::abs(t) < 1e-12 ? 0.0 : t);
  return ticks;
}

std::string tick_label(double v, double step, bool percent) {
  if (percent) return fmt::format("{:.0f}%", v * 100.0);
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", v, std::min(decimals, 6));
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string palette(size_t i) {
  static const std::array<const char*, 7> kColors = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                     "#E69F00", "#56B4E9", "#000000"};
  return kColors[i % kColors.size()];
}

std::string scale_color(double t) {
  // Light yellow -> green -> blue -> dark navy (YlGnBu-like), perceptually ordered, prints in grey.
  static const std::array<std::array<double, 3>, 5> kStops = {
      {{255, 255, 217}, {199, 233, 180}, {65, 182, 196}, {34, 94, 168}, {8, 29, 88}}};
  if (!std::isfinite(t)) t = 0.0;
  t = std::clamp(t, 0.0, 1.0) * (kStops.size() - 1);
  const size_t i = std::min(static_cast<size_t>(t), kStops.size() - 2);
  const double f = t - static_cast<double>(i);
  std::array<int, 3> c{};
  for (size_t k = 0; k < 3; ++k) c[k] = static_cast<int>(std::lround(kStops[i][k] + f * (kStops[i + 1][k] - kStops[i][k])));
  return fmt::format("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
}

namespace {

// The plot area of a line chart and the data ranges it shows, with their ticks.
struct Frame {
  static constexpr double kLeft = 70, kRight = 170, kTop = 40, kBottom = 56;
  double pw = 0, ph = 0;  // plot width and height
  double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  std::vector<double> xt, yt;
  double X(double x) const { return kLeft + (x - xmin) / (xmax - xmin) * pw; }
  double Y(double y) const { return kTop + (1.0 - (y - ymin) / (ymax - ymin)) * ph; }
};

// Ranges covering every point with its error bar and the reference band, padded and widened to ticks.
Frame fit_frame(const LineChart& chart) {
  Frame f;
  f.pw = chart.width - Frame::kLeft - Frame::kRight;
  f.ph = chart.height - Frame::kTop - Frame::kBottom;
  double xmin = 0.0, xmax = 0.0, ymin = INFINITY, ymax = -INFINITY;
  bool any = false;
  for (const Series& s : chart.series) {
    for (const Point& p : s.points) {
      any = true;
      xmax = std::max(xmax, p.x);
      xmin = std::min(xmin, p.x);
      ymin = std::min(ymin, p.y - p.err.value_or(0.0));
      ymax = std::max(ymax, p.y + p.err.value_or(0.0));
    }
  }
  if (chart.reference) {
    ymin = std::min(ymin, *chart.reference - chart.band.value_or(0.0));
    ymax = std::max(ymax, *chart.reference + chart.band.value_or(0.0));
  }
  if (!any && !chart.reference) ymin = 0.0, ymax = 1.0;
  if (chart.x_percent) xmax = std::max(xmax, xmin + 0.1);
  const double ypad = std::max((ymax - ymin) * 0.08, 1e-3);
  ymin -= ypad;
  ymax += ypad;
  f.xt = nice_ticks(xmin, xmax, 6);
  f.yt = nice_ticks(ymin, ymax, 6);
  f.xmin = std::min(xmin, f.xt.front());
  f.xmax = std::max(xmax, f.xt.back());
  f.ymin = std::min(ymin, f.yt.front());
  f.ymax = std::max(ymax, f.yt.back());
  return f;
}

// The <svg> element's opening, background, title, grid, ticks, frame and axis labels.
void chart_axes(std::string& o, const LineChart& chart, const Frame& f) {
  const double left = Frame::kLeft, top = Frame::kTop, pw = f.pw, ph = f.ph;
  o += fmt::format(
      "<svg id=\"{}\" class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "role=\"img\" aria-label=\"{}\">\n",
      escape(chart.id), chart.width, chart.height, chart.width, chart.height, escape(chart.title));
  o += fmt::format("<title>{}</title>\n<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", escape(chart.title),
                   chart.width, chart.height);
  o += fmt::format("<text x=\"{}\" y=\"22\" class=\"ptitle\">{}</text>\n", left, escape(chart.title));
  const std::vector<double>& xt = f.xt;
  const std::vector<double>& yt = f.yt;
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
  for (double v : yt) {
    o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" class=\"grid\"/>\n", left, f.Y(v), left + pw, f.Y(v));
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{}</text>\n", left - 6, f.Y(v) + 4,
                     tick_label(v, ystep, false));
  }
  for (double v : xt) {
    o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" class=\"grid\"/>\n", f.X(v), top, f.X(v), top + ph);
    o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n", f.X(v), top + ph + 18,
                     tick_label(v, xstep, chart.x_percent));
  }
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"frame\"/>\n", left, top, pw, ph);
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"middle\">{}</text>\n", left + pw / 2,
                   chart.height - 14.0, escape(chart.x_label));
  o += fmt::format("<text x=\"16\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1f})\">{}</text>\n",
                   top + ph / 2, top + ph / 2, escape(chart.y_label));
}

// The legend column, right of the plot; each entry moves `y` down.
struct Legend {
  double x = 0, y = 0;
};

// The dense reference band and line, and their legend entry.
void reference_line(std::string& o, const LineChart& chart, const Frame& f, Legend& legend) {
  const double left = Frame::kLeft, pw = f.pw, lx = legend.x, legend_y = legend.y;
  if (chart.band) {
    o += fmt::format("<rect class=\"band\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#9e9e9e\" "
                     "fill-opacity=\"0.25\"/>\n",
                     left, f.Y(*chart.reference + *chart.band), pw, f.Y(*chart.reference - *chart.band) - f.Y(*chart.reference + *chart.band));
  }
  o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#616161\" stroke-width=\"1.5\" "
                   "stroke-dasharray=\"2 3\"/>\n",
                   left, f.Y(*chart.reference), left + pw, f.Y(*chart.reference));
  o += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"18\" height=\"10\" fill=\"#9e9e9e\" fill-opacity=\"{}\"/>"
                   "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#616161\" stroke-dasharray=\"2 3\"/>\n",
                   lx, legend_y - 5, chart.band ? 0.25 : 0.0, lx, legend_y, lx + 18, legend_y);
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"legend\">{}</text>\n", lx + 24, legend_y + 4, escape(chart.reference_label));
  legend.y += 20;
}

// One series: its line, error bars and markers in a <g>, then its legend entry.
void series_line(std::string& o, const Series& s, const Frame& f, Legend& legend) {
  std::string path;
  for (const Point& p : s.points) path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", f.X(p.x), f.Y(p.y));
  o += fmt::format("<g class=\"series\" data-name=\"{}\">\n", escape(s.name));
  if (!path.empty()) {
    o += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", path, s.color,
                     s.dashed ? " stroke-dasharray=\"6 4\"" : "");
  }
  for (const Point& p : s.points) {
    if (p.err && *p.err > 0) {
      const double x = f.X(p.x), y0 = f.Y(p.y - *p.err), y1 = f.Y(p.y + *p.err);
      o += fmt::format("<path d=\"M{0:.1f},{1:.1f} L{0:.1f},{2:.1f} M{3:.1f},{1:.1f} L{4:.1f},{1:.1f} M{3:.1f},{2:.1f} L{4:.1f},{2:.1f}\" "
                       "stroke=\"{5}\" stroke-width=\"1.2\"/>\n",
                       x, y0, y1, x - 4, x + 4, s.color);
    }
    o += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n", f.X(p.x),
                     f.Y(p.y), s.color);
  }
  o += "</g>\n";
  const double lx = legend.x, legend_y = legend.y;
  o += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\"{}/>"
                   "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"/>\n",
                   lx, legend_y, lx + 18, legend_y, s.color, s.dashed ? " stroke-dasharray=\"6 4\"" : "", lx + 9, legend_y, s.color);
  o += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"legend\">{}</text>\n", lx + 24, legend_y + 4, escape(s.name));
  legend.y += 20;
}

}  // namespace

std::string line_chart(const LineChart& chart) {
  const Frame f = fit_frame(chart);
  std::string o;
  chart_axes(o, chart, f);
  Legend legend{Frame::kLeft + f.pw + 16, Frame::kTop + 8};
  if (chart.reference) reference_line(o, chart, f, legend);
  for (const Series& s : chart.series) series_line(o, s, f, legend);
  o += "</svg>\n";
  return o;
}

std::string heatmap(const Heatmap& map) {
  size_t longest = 0;
  for (const auto& r : map.rows) longest = std::max(longest, r.size());
  const int label_w = std::max(70, 7 * static_cast<int>(longest) + 14), top = 48, cw = map.cell_width, ch = map.cell_height;
  const int width = std::max({label_w + cw * static_cast<int>(map.cols.size()) + 20, 8 * static_cast<int>(map.title.size()) + 8,
                              label_w + 160 + 80});  // room for the colour legend and its max label
  const int height = top + ch * static_cast<int>(map.rows.size()) + 44;
  std::string o = fmt::format(
      "<svg id=\"{}\" class=\"plot heatmap\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
      escape(map.id), width, height, width, height, escape(map.title), escape(map.title), width, height);
  o += fmt::format("<text x=\"4\" y=\"18\" class=\"ptitle\">{}</text>\n", escape(map.title));
  for (size_t c = 0; c < map.cols.size(); ++c) {
    o += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n", label_w + static_cast<int>(c) * cw + cw / 2,
                     top - 8, escape(map.cols[c]));
  }
  std::vector<double> col_min(map.cols.size(), INFINITY), col_max(map.cols.size(), -INFINITY);
  for (const auto& row : map.values) {
    for (size_t c = 0; c < row.size() && c < map.cols.size(); ++c) {
      if (row[c]) col_min[c] = std::min(col_min[c], *row[c]), col_max[c] = std::max(col_max[c], *row[c]);
    }
  }
  for (size_t r = 0; r < map.rows.size(); ++r) {
    const int y = top + static_cast<int>(r) * ch;
    o += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{}</text>\n", label_w - 6, y + ch / 2 + 4,
                     escape(map.rows[r]));
    for (size_t c = 0; c < map.cols.size(); ++c) {
      const int x = label_w + static_cast<int>(c) * cw;
      const std::optional<double> v = r < map.values.size() && c < map.values[r].size() ? map.values[r][c] : std::nullopt;
      if (!v) {
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f5f5f5\" stroke=\"#ffffff\"/>\n", x, y, cw, ch);
        continue;
      }
      double lo = map.vmin, hi = map.vmax;
      if (map.per_column) lo = col_min[c], hi = col_max[c];
      const double t = hi > lo ? (*v - lo) / (hi - lo) : 0.5;
      const std::string label = map.percent ? fmt::format("{:.1f}%", *v * 100.0) : fmt::format("{:.3f}", *v);
      o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#ffffff\"><title>{} {}: {}</title></rect>\n",
                       x, y, cw, ch, scale_color(t), escape(map.rows[r]), escape(map.cols[c]), label);
      o += fmt::format("<text x=\"{}\" y=\"{}\" class=\"cell\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n", x + cw / 2,
                       y + ch / 2 + 4, t > 0.55 ? "#ffffff" : "#111111", label);
    }
  }
  // Colour scale legend.
  const int ly = top + ch * static_cast<int>(map.rows.size()) + 14;
  const int steps = 10, lw = 16;
  for (int i = 0; i < steps; ++i) {
    o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"10\" fill=\"{}\"/>\n", label_w + i * lw, ly, lw,
                     scale_color((i + 0.5) / steps));
  }
  const std::string lo = map.per_column ? "column min" : (map.percent ? fmt::format("{:.0f}%", map.vmin * 100) : fmt::format("{:.2f}", map.vmin));
  const std::string hi = map.per_column ? "column max" : (map.percent ? fmt::format("{:.0f}%", map.vmax * 100) : fmt::format("{:.2f}", map.vmax));
  o += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{}</text>\n", label_w - 6, ly + 9, lo);
  o += fmt::format("<text x=\"{}\" y=\"{}\" class=\"tick\">{}</text>\n", label_w + steps * lw + 6, ly + 9, hi);
  o += "</svg>\n";
  return o;
}

}  // namespace lth::report::svg
