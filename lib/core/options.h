// The ranges of numeric options: every command-line option or config value that is a number is
// checked against the range declared beside it (cli/options.h wraps CLI11's add_option with it, and
// cli/train_options.cpp checks --config values through the same table), so a bad value is a usage
// error naming the option before anything is read or written.
#pragma once

#include <limits>
#include <string>

namespace lth {

// [lo, hi] (or open at either end); values must also be finite. `note` is appended to the
// message, e.g. "0 = all cores".
struct Range {
  double lo = -std::numeric_limits<double>::max();
  double hi = std::numeric_limits<double>::max();
  bool lo_open = false;
  bool integer = false;  // whole numbers only
  bool hi_open = false;  // [lo, hi)

  bool contains(double value) const;
  // "an integer in 1..1024", "a finite number > 0", ...
  std::string describe() const;
};

// Common ranges.
Range positive_number();                    // finite, > 0
Range non_negative_number();                // finite, >= 0
Range fraction_open_closed();               // (0, 1]
Range fraction_closed_open();               // [0, 1)
Range count(double lo, double hi);          // integer in lo..hi

// The largest --threads value: more intra-op threads than this only thrash (and creating tens of
// thousands of OpenMP threads stalls the process).
constexpr int kMaxThreads = 1024;
Range threads_range();  // 0..kMaxThreads (0 = all available cores)

// Throws UsageError "<name> must be <range> (got <value>)" unless `value` is in `range`.
// `source`, when given, is the config file the value came from (named first in the message).
void check_range(const std::string& name, double value, const Range& range, const std::string& source = "");

// The message check_range would throw, or "" when the value is fine (CLI11 validators use it).
std::string range_error(const std::string& name, double value, const Range& range);

}  // namespace lth
