// Helpers the interleaved ratio benchmarks share.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace lth::bench {

// Median of a sample (mean of the two middle values for an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace lth::bench
