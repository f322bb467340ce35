#include "core/file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lth {
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) LTH_FAIL(IoError, "{}: is a directory, expected a file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) LTH_FAIL(IoError, "{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) LTH_FAIL(IoError, "{}: read failed", path);
  return buffer.str();
}

int json_nesting_depth(const char* begin, const char* end, int limit, std::size_t* offset) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (const char* p = begin; p < end; ++p) {
    const char c = *p;
    if (in_string) {
      if (c == '\\') {
        ++p;  // skips the escaped character (a '"' or '\\' must not end or restart the string)
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) {
          if (offset != nullptr) *offset = static_cast<std::size_t>(p - begin);
          return deepest;
        }
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  return deepest;
}

nlohmann::json parse_json_text(const std::string& text, const std::string& source) {
  std::size_t at = 0;
  if (json_nesting_depth(text.data(), text.data() + text.size(), kMaxJsonDepth, &at) > kMaxJsonDepth)
    LTH_FAIL(IoError, "{}: JSON nests deeper than {} levels (byte {}); refusing to parse it", source, kMaxJsonDepth,
             at);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann quotes the whole token it stopped in ("last read: ..."), which can be any length.
    std::string what = e.what();
    if (what.size() > 160) what = what.substr(0, 150) + "...";
    LTH_FAIL(IoError, "{}: not valid JSON (byte {}): {}", source, e.byte, what);
  } catch (const nlohmann::json::exception& e) {
    // out_of_range 406: a number too large for a double (1e999).
    LTH_FAIL(IoError, "{}: not valid JSON: {}", source, clip(e.what(), 150));
  }
}

nlohmann::json read_json_file(const std::string& path) { return parse_json_text(read_file(path), path); }

std::string temp_path_for(const std::string& path) {
  static std::atomic<int> counter{0};
  return fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
}

void write_stream_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  const std::string tmp = temp_path_for(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) LTH_FAIL(IoError, "{}: cannot create: {}", tmp, std::strerror(errno));
      writer(out);
      out.flush();
      if (!out) LTH_FAIL(IoError, "{}: write failed", path);
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) LTH_FAIL(IoError, "{}: cannot rename from {}: {}", path, tmp, ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_stream_atomic(path, [&](std::ostream& out) { out.write(content.data(), static_cast<std::streamsize>(content.size())); });
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) LTH_FAIL(IoError, "{}: cannot create directory: {}", path, ec.message());
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

}  // namespace lth
