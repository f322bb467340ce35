// Step: a training length or point written as "3ep", "1000it", "2ep100it" (open_lth's idea).
#pragma once

#include <cstdint>
#include <string>

namespace lth {

struct Step {
  int64_t epochs = 0;
  int64_t iterations = 0;

  // Throws UsageError on anything but <N>ep, <N>it or <N>ep<M>it (N, M >= 0); a bare number is iterations.
  static Step parse(const std::string& text);
  // Iterations from the start, given the iterations in one epoch.
  int64_t resolve(int64_t iterations_per_epoch) const { return epochs * iterations_per_epoch + iterations; }
  bool is_zero() const { return epochs == 0 && iterations == 0; }
  std::string str() const;
};

}  // namespace lth
