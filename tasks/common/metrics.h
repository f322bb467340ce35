// Classification and regression metrics on plain vectors, matching scikit-learn / SciPy:
// accuracy_score, f1_score (binary), matthews_corrcoef, pearsonr, spearmanr.
// Every function throws lth::ShapeError when the inputs differ in length or are empty.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lth::tasks {

// Metric name -> value, names as in GLUE: "accuracy", "f1", "mcc", "pearson", "spearman".
// Values are fractions (0.85), not percentages.
using MetricMap = std::map<std::string, double>;

double accuracy(const std::vector<int>& predictions, const std::vector<int>& golds);

// F1 of the `positive` class; 0 when there is no true positive (sklearn's zero_division=0).
double binary_f1(const std::vector<int>& predictions, const std::vector<int>& golds, int positive = 1);

// Matthews correlation, general multi-class form (Gorodkin's R_K, as sklearn). Returns 0 when it
// is undefined, i.e. when either the predictions or the golds are constant.
double matthews_corrcoef(const std::vector<int>& predictions, const std::vector<int>& golds);

// Pearson correlation. Returns NaN when either input is constant (as scipy.stats.pearsonr).
double pearson(const std::vector<double>& x, const std::vector<double>& y);

// Spearman rank correlation: Pearson of the ranks, ties get their average rank (scipy.stats.
// rankdata "average"). NaN when either input is constant.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

// 1-based ranks with ties averaged (scipy.stats.rankdata(method="average")).
std::vector<double> average_ranks(const std::vector<double>& values);

// All metrics of a GLUE task (registry name "glue/mrpc" or bare "mrpc"), for classification tasks
// on label ids (positive class for F1 = label "1", id 1). Throws ConfigError for an unknown task
// or when called with the wrong overload for the task (regression vs classification).
MetricMap compute_glue_metrics(std::string_view task, const std::vector<int>& predictions,
                               const std::vector<int>& golds);
// For regression tasks (STS-B): pearson and spearman.
MetricMap compute_glue_metrics(std::string_view task, const std::vector<double>& predictions,
                               const std::vector<double>& golds);

}  // namespace lth::tasks
