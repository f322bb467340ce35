// Metrics against hand-computed values (no numpy/scipy on the test machine: the arithmetic is in
// the comments).
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.h"
#include "tasks/common/metrics.h"

using namespace lth::tasks;

TEST_SUITE("tasks.metrics") {
  TEST_CASE("accuracy") {
    CHECK(accuracy({0, 1, 1, 0}, {0, 1, 0, 0}) == doctest::Approx(0.75));
    CHECK(accuracy({1, 1}, {0, 0}) == 0.0);
    CHECK(accuracy({2}, {2}) == 1.0);
  }

  TEST_CASE("binary F1 with a configurable positive class") {
    const std::vector<int> pred{1, 1, 0, 1, 0}, gold{1, 0, 0, 1, 1};
    // positive 1: tp=2 fp=1 fn=1 -> 2*2/(4+1+1)
    CHECK(binary_f1(pred, gold) == doctest::Approx(4.0 / 6.0));
    // positive 0: tp=1 (idx 2) fp=1 (idx 4) fn=1 (idx 1) -> 2/4
    CHECK(binary_f1(pred, gold, 0) == doctest::Approx(0.5));
    // no true positive -> 0 (sklearn zero_division=0), including no positives at all
    CHECK(binary_f1({0, 0}, {1, 1}) == 0.0);
    CHECK(binary_f1({0, 0}, {0, 0}) == 0.0);
  }

  TEST_CASE("Matthews correlation") {
    // binary tp=2 tn=1 fp=1 fn=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    CHECK(matthews_corrcoef({1, 1, 0, 1, 0}, {1, 0, 0, 1, 1}) == doctest::Approx(1.0 / 6.0));
    // multi-class: c=3, s=6, t=p=(2,2,2): (3*6-12)/sqrt((36-12)*(36-12)) = 0.25
    CHECK(matthews_corrcoef({0, 1, 1, 2, 2, 0}, {0, 0, 1, 1, 2, 2}) == doctest::Approx(0.25));
    // all wrong on a balanced binary set -> -1; all right -> 1
    CHECK(matthews_corrcoef({1, 0, 1, 0}, {0, 1, 0, 1}) == doctest::Approx(-1.0));
    CHECK(matthews_corrcoef({0, 1, 1, 0}, {0, 1, 1, 0}) == doctest::Approx(1.0));
    // undefined (constant predictions or constant golds) -> 0 like sklearn
    CHECK(matthews_corrcoef({1, 1, 1, 1}, {0, 1, 0, 1}) == 0.0);
    CHECK(matthews_corrcoef({0, 1, 0, 1}, {1, 1, 1, 1}) == 0.0);
  }

  TEST_CASE("Pearson") {
    // x=(1,2,3,4) y=(2,4,5,9): sxy=11, sxx=5, syy=26 -> 11/sqrt(130)
    CHECK(pearson({1, 2, 3, 4}, {2, 4, 5, 9}) == doctest::Approx(11.0 / std::sqrt(130.0)).epsilon(1e-12));
    CHECK(pearson({1, 2, 3}, {3, 2, 1}) == doctest::Approx(-1.0).epsilon(1e-12));
    // constant input: undefined, NaN (scipy.stats.pearsonr returns nan too)
    CHECK(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
    CHECK(std::isnan(pearson({1, 2, 3}, {5, 5, 5})));
  }

  TEST_CASE("average ranks and Spearman with ties") {
    const std::vector<double> r = average_ranks({10, 20, 10, 30, 20, 20});
    CHECK(r == std::vector<double>{1.5, 4, 1.5, 6, 4, 4});
    // ranks x=(1,2.5,2.5,4), y=(1,3,2,4): sxy=4.5 sxx=4.5 syy=5 -> 4.5/sqrt(22.5)
    CHECK(spearman({1, 2, 2, 3}, {1, 3, 2, 4}) == doctest::Approx(4.5 / std::sqrt(22.5)));
    // monotone but non-linear -> exactly 1
    CHECK(spearman({1, 2, 3, 4}, {1, 8, 27, 1000}) == doctest::Approx(1.0));
    CHECK(std::isnan(spearman({2, 2, 2}, {1, 2, 3})));
  }

  TEST_CASE("empty and mismatched inputs are errors") {
    CHECK_THROWS_AS(accuracy({}, {}), lth::ShapeError);
    CHECK_THROWS_AS(binary_f1({}, {}), lth::ShapeError);
    CHECK_THROWS_AS(matthews_corrcoef({}, {}), lth::ShapeError);
    CHECK_THROWS_AS(pearson({}, {}), lth::ShapeError);
    CHECK_THROWS_AS(spearman({}, {}), lth::ShapeError);
    CHECK_THROWS_AS(accuracy({1, 0}, {1}), lth::ShapeError);
    CHECK_THROWS_AS(pearson({1, 2}, {1}), lth::ShapeError);
  }

  TEST_CASE("compute_glue_metrics picks each task's metrics") {
    const std::vector<int> pred{1, 1, 0, 1, 0}, gold{1, 0, 0, 1, 1};
    const MetricMap mrpc = compute_glue_metrics("glue/mrpc", pred, gold);
    CHECK(mrpc.size() == 2);
    CHECK(mrpc.at("accuracy") == doctest::Approx(0.6));
    CHECK(mrpc.at("f1") == doctest::Approx(4.0 / 6.0));
    const MetricMap cola = compute_glue_metrics("cola", pred, gold);
    CHECK(cola.size() == 1);
    CHECK(cola.at("mcc") == doctest::Approx(1.0 / 6.0));
    CHECK(compute_glue_metrics("glue/rte", pred, gold).count("accuracy") == 1);
    const MetricMap stsb = compute_glue_metrics("glue/stsb", std::vector<double>{1, 2, 3, 4}, {2, 4, 5, 9});
    CHECK(stsb.at("pearson") == doctest::Approx(11.0 / std::sqrt(130.0)).epsilon(1e-12));
    CHECK(stsb.at("spearman") == doctest::Approx(1.0));
    CHECK_THROWS_AS(compute_glue_metrics("glue/stsb", pred, gold), lth::ConfigError);
    CHECK_THROWS_AS(compute_glue_metrics("glue/sst2", std::vector<double>{1.0}, {1.0}), lth::ConfigError);
    CHECK_THROWS_AS(compute_glue_metrics("glue/nope", pred, gold), lth::ConfigError);
  }
}
