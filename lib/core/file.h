// File helpers: whole-file reads with errors that name the file, JSON parsing with the same, and
// atomic writes (temp file in the same directory + rename) so a kill never leaves half a file.
#pragma once

#include <cstddef>
#include <functional>
#include <ostream>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace lth {

// Reads a whole file; throws IoError naming the path when it cannot.
std::string read_file(const std::string& path);

// Nesting deeper than this is refused before parsing (nlohmann's copy, dump and compare recurse, so
// 100k '[' would overflow the stack). Real configs, datasets and inputs nest fewer than 10 levels.
inline constexpr int kMaxJsonDepth = 256;

// Parses JSON text; throws IoError naming `source` and the byte position on malformed JSON or on
// nesting deeper than kMaxJsonDepth.
nlohmann::json parse_json_text(const std::string& text, const std::string& source);

// Parses a JSON file (parse_json_text over read_file).
nlohmann::json read_json_file(const std::string& path);

// Deepest nesting of objects/arrays in JSON text (strings skipped); stops counting past `limit`
// and stores in `*offset` the byte where the depth first exceeded it.
int json_nesting_depth(const char* begin, const char* end, int limit, std::size_t* offset = nullptr);

// Writes `content` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& content);

// Calls `writer` with a stream to a temporary file beside `path`, then renames it over `path`.
// If `writer` throws, the temporary file is removed and `path` is left untouched.
void write_stream_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer);

// A temporary path beside `path` (same directory, so rename is atomic), unique per process.
std::string temp_path_for(const std::string& path);

// Creates a directory and its parents; throws IoError when it cannot.
void make_dirs(const std::string& path);

bool path_exists(const std::string& path);

}  // namespace lth
