// The options table: every numeric option is added through add_number, which declares its range
// once, beside the option (checked by CLI11 when the flag is parsed: a usage error, exit 2). The
// training options also check values that come from --config against the same ranges
// (cli/train_options.cpp).
#pragma once

#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "core/options.h"

namespace lth::cli {

// A CLI11 validator for `range` (each element of a list option is checked). Text that is not a
// number is left to CLI11's own conversion error.
inline CLI::Validator in_range(const Range& range) {
  return CLI::Validator(
      [range](std::string& text) -> std::string {
        if (text.empty()) return "";
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0') return "";
        return range_error("", v, range);
      },
      range.describe());
}

template <typename T>
CLI::Option* add_number(CLI::App& cmd, const std::string& name, T& value, const std::string& description,
                        const Range& range) {
  return cmd.add_option(name, value, description)->check(in_range(range));
}

}  // namespace lth::cli
