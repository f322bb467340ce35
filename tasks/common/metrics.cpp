#include "tasks/common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "core/error.h"
#include "tasks/glue/glue.h"

namespace lth::tasks {
namespace {

template <typename A, typename B>
void check_sizes(const char* what, const std::vector<A>& a, const std::vector<B>& b) {
  LTH_CHECK(a.size() == b.size(), ShapeError, "{}: {} predictions but {} golds", what, a.size(), b.size());
  LTH_CHECK(!a.empty(), ShapeError, "{}: no examples", what);
}

}  // namespace

double accuracy(const std::vector<int>& predictions, const std::vector<int>& golds) {
  check_sizes("accuracy", predictions, golds);
  std::size_t right = 0;
  for (std::size_t i = 0; i < golds.size(); ++i) right += predictions[i] == golds[i];
  return static_cast<double>(right) / static_cast<double>(golds.size());
}

double binary_f1(const std::vector<int>& predictions, const std::vector<int>& golds, int positive) {
  check_sizes("f1", predictions, golds);
  std::int64_t tp = 0, fp = 0, fn = 0;
  for (std::size_t i = 0; i < golds.size(); ++i) {
    const bool p = predictions[i] == positive;
    const bool g = golds[i] == positive;
    tp += p && g;
    fp += p && !g;
    fn += !p && g;
  }
  if (tp == 0) return 0.0;
  return 2.0 * static_cast<double>(tp) / static_cast<double>(2 * tp + fp + fn);
}

double matthews_corrcoef(const std::vector<int>& predictions, const std::vector<int>& golds) {
  check_sizes("mcc", predictions, golds);
  // Per-class counts of golds (t_k) and predictions (p_k), and the number correct (c).
  std::unordered_map<int, std::int64_t> t, p;
  std::int64_t c = 0;
  for (std::size_t i = 0; i < golds.size(); ++i) {
    ++t[golds[i]];
    ++p[predictions[i]];
    c += predictions[i] == golds[i];
  }
  const auto s = static_cast<long double>(golds.size());
  long double tp_sum = 0, pp_sum = 0, tt_sum = 0;
  for (const auto& [k, tk] : t) {
    tt_sum += static_cast<long double>(tk) * tk;
    auto it = p.find(k);
    if (it != p.end()) tp_sum += static_cast<long double>(tk) * it->second;
  }
  for (const auto& [k, pk] : p) pp_sum += static_cast<long double>(pk) * pk;
  const long double cov_tp = static_cast<long double>(c) * s - tp_sum;
  const long double cov_pp = s * s - pp_sum;
  const long double cov_tt = s * s - tt_sum;
  if (cov_pp == 0 || cov_tt == 0) return 0.0;
  return static_cast<double>(cov_tp / std::sqrt(cov_tt * cov_pp));
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes("pearson", x, y);
  const auto n = static_cast<long double>(x.size());
  long double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  long double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  const long double r = sxy / std::sqrt(sxx * syy);
  return static_cast<double>(std::clamp(r, -1.0L, 1.0L));
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  std::size_t i = 0;
  while (i < order.size()) {
    std::size_t j = i + 1;
    while (j < order.size() && values[order[j]] == values[order[i]]) ++j;
    // Positions i..j-1 (0-based) share the mean of ranks i+1..j.
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t k = i; k < j; ++k) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes("spearman", x, y);
  return pearson(average_ranks(x), average_ranks(y));
}

MetricMap compute_glue_metrics(std::string_view task, const std::vector<int>& predictions,
                               const std::vector<int>& golds) {
  const glue::TaskSpec& spec = glue::find_task(task);
  LTH_CHECK(!spec.is_regression, ConfigError, "{} is a regression task: pass float predictions", spec.name);
  MetricMap out;
  for (const std::string& name : spec.metrics) {
    if (name == "accuracy") {
      out[name] = accuracy(predictions, golds);
    } else if (name == "f1") {
      out[name] = binary_f1(predictions, golds, 1);
    } else if (name == "mcc") {
      out[name] = matthews_corrcoef(predictions, golds);
    } else {
      LTH_FAIL(ConfigError, "{}: metric {} needs float predictions", spec.name, name);
    }
  }
  return out;
}

MetricMap compute_glue_metrics(std::string_view task, const std::vector<double>& predictions,
                               const std::vector<double>& golds) {
  const glue::TaskSpec& spec = glue::find_task(task);
  LTH_CHECK(spec.is_regression, ConfigError, "{} is a classification task: pass label ids", spec.name);
  MetricMap out;
  for (const std::string& name : spec.metrics) {
    if (name == "pearson") {
      out[name] = pearson(predictions, golds);
    } else if (name == "spearman") {
      out[name] = spearman(predictions, golds);
    } else {
      LTH_FAIL(ConfigError, "{}: metric {} needs label ids", spec.name, name);
    }
  }
  return out;
}

}  // namespace lth::tasks
