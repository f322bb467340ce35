#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace lth::log {
namespace {

Level initial_level() {
  const char* env = std::getenv("LTH_LOG");
  if (env == nullptr) return Level::kInfo;
  if (std::strcmp(env, "debug") == 0) return Level::kDebug;
  if (std::strcmp(env, "warn") == 0) return Level::kWarn;
  if (std::strcmp(env, "error") == 0) return Level::kError;
  if (std::strcmp(env, "quiet") == 0) return Level::kQuiet;
  return Level::kInfo;
}

std::atomic<Level> g_level{initial_level()};
std::mutex g_mutex;

}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void write(Level level, std::string_view module, const std::string& message) {
  static const char* kNames[] = {"debug", "info", "warning", "error", ""};
  std::lock_guard<std::mutex> lock(g_mutex);
  if (level >= Level::kWarn) {
    std::fprintf(stderr, "[%.*s] %s: %s\n", static_cast<int>(module.size()), module.data(),
                 kNames[static_cast<int>(level)], message.c_str());
  } else {
    std::fprintf(stderr, "[%.*s] %s\n", static_cast<int>(module.size()), module.data(), message.c_str());
  }
}

}  // namespace lth::log
