// Typed errors thrown by the library. Only cli/main.cpp catches them and maps them to exit codes:
// UsageError -> 2, every other lth::Error -> 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace lth {

class Error : public std::runtime_error {
 public:
  // `message` is the one-line error; `detail` (optional) is what it summarises, e.g. every entry
  // of a list the message cuts short. `lth --verbose` prints it after the line.
  explicit Error(const std::string& message, std::string detail = "")
      : std::runtime_error(message), detail_(std::move(detail)) {}
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string detail_;
};

// Wrong flags or arguments: exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A configuration value is missing, unknown or out of range.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A file cannot be read or written, or its content is damaged. The message names the file.
class IoError : public Error {
 public:
  using Error::Error;
};

// Tensors whose shapes or names do not fit together.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A value quoted from an input file, made fit for a one-line message: control characters (newline,
// tab, ...) become \n, \t or \xHH, and text beyond `max_bytes` is cut (at a UTF-8 boundary) with "...".
std::string clip(std::string_view text, std::size_t max_bytes = 60);

}  // namespace lth

// LTH_CHECK(cond, ErrorType, "format {}", args...): throws ErrorType with the formatted message.
#define LTH_CHECK(cond, ErrorType, ...)                 \
  do {                                                  \
    if (!(cond)) throw ErrorType(fmt::format(__VA_ARGS__)); \
  } while (0)

#define LTH_FAIL(ErrorType, ...) throw ErrorType(fmt::format(__VA_ARGS__))
