// File helpers: whole-file reads with errors that name the file, JSON parsing with the same, and
// atomic writes (temp file in the same directory + rename) so a kill never leaves half a file.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace lth {

// Reads a whole file; throws IoError naming the path when it cannot.
std::string read_file(const std::string& path);

// Parses a JSON file; throws IoError naming the path and the parse position on malformed JSON.
nlohmann::json read_json_file(const std::string& path);

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
