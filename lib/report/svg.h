// Inline SVG plots drawn by lth itself (no scripts, fonts or network): line charts with error bars
// and a reference band, and heatmaps with a sequential colour scale.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lth::report::svg {

struct Point {
  double x = 0.0;
  double y = 0.0;
  std::optional<double> err;  // ± error bar
};

struct Series {
  std::string name;
  std::string color;  // CSS colour
  bool dashed = false;
  std::vector<Point> points;
};

struct LineChart {
  std::string id;
  std::string title;
  std::string x_label;
  std::string y_label;
  bool x_percent = true;  // x values are fractions shown as percent
  std::vector<Series> series;
  std::optional<double> reference;  // dense mean: a horizontal line
  std::optional<double> band;       // ± around the reference: a shaded band
  std::string reference_label;
  int width = 760;
  int height = 420;
};
std::string line_chart(const LineChart& chart);

struct Heatmap {
  std::string id;
  std::string title;
  std::vector<std::string> rows;
  std::vector<std::string> cols;
  std::vector<std::vector<std::optional<double>>> values;  // [row][col]; nullopt = blank cell
  double vmin = 0.0;
  double vmax = 1.0;
  bool percent = true;    // cell labels as percent, else 3 decimals
  bool per_column = false;  // colour each column on its own min..max (scores of different tasks)
  int cell_width = 56;
  int cell_height = 22;
};
std::string heatmap(const Heatmap& map);

// The colour of t in [0, 1] on the sequential scale (light = 0, dark = 1).
std::string scale_color(double t);
// Okabe-Ito colour-blind safe palette, by index.
std::string palette(size_t i);
// Escapes &, <, >, " and ' for HTML/SVG text and attributes.
std::string escape(const std::string& text);

}  // namespace lth::report::svg
