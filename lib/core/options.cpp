#include "core/options.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace lth {
namespace {

constexpr double kBig = 1e300;

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::abs(v) < 1e17 && v == std::floor(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{:g}", v);
}

}  // namespace

bool Range::contains(double value) const {
  if (!std::isfinite(value)) return false;
  if (integer && value != std::floor(value)) return false;
  if (lo_open ? !(value > lo) : !(value >= lo)) return false;
  return hi_open ? value < hi : value <= hi;
}

std::string Range::describe() const {
  const bool has_lo = lo > -kBig, has_hi = hi < kBig;
  const std::string what = integer ? "an integer" : "a finite number";
  if (has_lo && has_hi && !lo_open && !hi_open) return fmt::format("{} in {}..{}", what, number(lo), number(hi));
  if (has_lo && has_hi) {
    return fmt::format("{} in {}{}, {}{}", what, lo_open ? "(" : "[", number(lo), number(hi), hi_open ? ")" : "]");
  }
  if (has_lo) return fmt::format("{} {} {}", what, lo_open ? ">" : ">=", number(lo));
  if (has_hi) return fmt::format("{} {} {}", what, hi_open ? "<" : "<=", number(hi));
  return what;
}

Range positive_number() { return Range{0.0, std::numeric_limits<double>::max(), true, false}; }
Range non_negative_number() { return Range{0.0, std::numeric_limits<double>::max(), false, false}; }
Range fraction_open_closed() { return Range{0.0, 1.0, true, false}; }
Range fraction_closed_open() { return Range{0.0, 1.0, false, false, true}; }
Range count(double lo, double hi) { return Range{lo, hi, false, true}; }
Range threads_range() { return count(0, kMaxThreads); }

std::string range_error(const std::string& name, double value, const Range& range) {
  if (range.contains(value)) return "";
  const std::string want = range.describe();
  if (name.empty()) return fmt::format("must be {} (got {})", want, number(value));
  return fmt::format("{} must be {} (got {})", name, want, number(value));
}

void check_range(const std::string& name, double value, const Range& range, const std::string& source) {
  const std::string message = range_error(name, value, range);
  if (message.empty()) return;
  if (source.empty()) throw UsageError(message);  // a flag: the command line is wrong (exit 2)
  throw ConfigError(source + ": " + message);     // a value in a file: bad input (exit 1)
}

}  // namespace lth
