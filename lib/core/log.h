// Logging to stderr with a [module] prefix. stdout belongs to the command's own output.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace lth::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

void set_level(Level level);
Level level();
void write(Level level, std::string_view module, const std::string& message);

template <typename... Args>
void debug(std::string_view module, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kDebug) write(Level::kDebug, module, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(std::string_view module, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kInfo) write(Level::kInfo, module, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view module, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kWarn) write(Level::kWarn, module, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace lth::log
