// The one definition of "matching" (prune/matching.h), on hand-computed values. Scores are chosen
// exactly representable in binary (multiples of 1/64) so the boundary cases are exact.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "prune/imp.h"
#include "prune/matching.h"

using lth::prune::is_matching;
using lth::prune::is_matching_strict;

TEST_SUITE("prune") {
  TEST_CASE("is_matching: mean >= dense mean - dense std (Chen et al.), undecidable without a dense std") {
    // Dense seeds 0.75, 0.8125, 0.875: mean 0.8125, sample std 0.0625 -> threshold 0.75.
    const double dense = 0.8125, std = 0.0625;
    CHECK(is_matching(0.8125, dense, std) == true);
    CHECK(is_matching(0.75, dense, std) == true);                // exactly at the threshold
    CHECK(is_matching(0.75 - 1.0 / 1024, dense, std) == false);  // just below it
    CHECK(is_matching(0.90, dense, std) == true);
    CHECK_FALSE(is_matching(0.8125, dense, std::nullopt).has_value());  // one dense seed
    // A dense std of 0 is the strict form.
    CHECK(is_matching(0.8125 - 1.0 / 1024, dense, 0.0) == false);
  }

  TEST_CASE("is_matching_strict: mean >= dense mean; differs from matching inside the one-std band") {
    const double dense = 0.8125, std = 0.0625;
    CHECK(is_matching_strict(0.8125, dense));
    CHECK(is_matching_strict(0.875, dense));
    CHECK_FALSE(is_matching_strict(0.78125, dense));
    CHECK(is_matching(0.78125, dense, std) == true);  // within one std: matching, not strictly
    // Seeds 0.7, 0.8, 0.9 average to 0.7999999999999999 in doubles, against a dense 0.8: the tolerance
    // keeps a level that scored what dense scored matching.
    const double mean = (0.7 + 0.8 + 0.9) / 3.0, dense_mean = 0.8;
    REQUIRE(mean < dense_mean);
    CHECK(is_matching_strict(mean, dense_mean));
    CHECK(is_matching(mean, dense_mean, 0.0) == true);
    CHECK(std::string(lth::prune::kMatchingStrictLabel) == "matching (strict)");
  }
}

TEST_SUITE("prune") {
  TEST_CASE("summary_table: one seed shows the strict form, named \"matching (strict)\", and what θ0 lacked") {
    const nlohmann::json s = {
        {"task", "glue/sst2"}, {"metric", "accuracy"}, {"strategy", "global"}, {"schedule", "linear"}, {"rewind", "init"},
        {"dense", 0.75}, {"new_parameters", nlohmann::json::array({"bert.pooler.dense.weight"})}, {"prune_new_params", false},
        {"levels", nlohmann::json::array({nlohmann::json{{"level", 0}, {"sparsity", 0.0}, {"metric", 0.75}},
                                          nlohmann::json{{"level", 1}, {"sparsity", 0.1}, {"metric", 0.8}},
                                          nlohmann::json{{"level", 2}, {"sparsity", 0.2}, {"metric", 0.7}}})},
        {"baselines", nlohmann::json{{"random", nlohmann::json::array({nlohmann::json{{"level", 1}, {"sparsity", 0.1},
                                                                                     {"metric", 0.75}}})}}}};
    const std::string t = lth::prune::summary_table(s);
    CHECK(t.find("| matching (strict) |") != std::string::npos);
    CHECK(t.find("| imp        |     0 |    0.00% |   0.7500 |  +0.0000 |               yes |") != std::string::npos);
    CHECK(t.find("| imp        |     1 |   10.00% |   0.8000 |  +0.0500 |               yes |") != std::string::npos);
    CHECK(t.find("| imp        |     2 |   20.00% |   0.7000 |  -0.0500 |                no |") != std::string::npos);
    CHECK(t.find("| random     |     1 |   10.00% |   0.7500 |  +0.0000 |               yes |") != std::string::npos);
    CHECK(t.find("Not pruned (not in θ0, the checkpoint: initialised at load, not pretrained): bert.pooler.dense.weight.") !=
          std::string::npos);
  }
}
