// "Matching": the one definition every table of lth uses (lth prune's table, summary.md, lth report).
// Header-only and torch-free, so lib/report shares it without linking LibTorch.
#pragma once

#include <optional>

namespace lth::prune {

// Absorbs the rounding of a mean over seeds (a level that scored exactly what dense scored matches).
inline constexpr double kMatchingTolerance = 1e-12;

// Chen et al. (2020): a subnetwork matches when its mean score over seeds is at least the dense
// model's mean minus one (sample) standard deviation of the dense scores over seeds. Undecidable
// (nullopt) without a dense std, i.e. with fewer than two dense seeds.
inline std::optional<bool> is_matching(double mean, double dense_mean, std::optional<double> dense_std) {
  if (!dense_std) return std::nullopt;
  return mean >= dense_mean - *dense_std - kMatchingTolerance;
}

// The strict form, "matching (strict)": mean >= dense mean (what one seed can decide).
inline bool is_matching_strict(double mean, double dense_mean) { return mean >= dense_mean - kMatchingTolerance; }

inline constexpr const char* kMatchingLabel = "matching";
inline constexpr const char* kMatchingStrictLabel = "matching (strict)";

}  // namespace lth::prune
