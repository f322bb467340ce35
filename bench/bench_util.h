// Helpers the interleaved ratio benchmarks share.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace lth::bench {

// Median of a sample (mean of the two middle values for an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Mean wall time of one call of f, in microseconds, over `reps` calls.
template <typename F>
double micros(F&& f, int reps) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
}

// `--threads N` and `--pairs N`, the flags of the benchmarks that take only these; false (after
// printing "usage: NAME [--threads N] [--pairs N]") on any other flag.
inline bool parse_threads_pairs(int argc, char** argv, const char* name, int* threads, int* pairs) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") *threads = std::atoi(argv[i + 1]);
    else if (flag == "--pairs") *pairs = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--pairs N]\n", name);
      return false;
    }
  }
  return true;
}

}  // namespace lth::bench
