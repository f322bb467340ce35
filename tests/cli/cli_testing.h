// Helpers for end-to-end runs of the lth binary on the tiny fixture model.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "core/file.h"
#include "tests/testing.h"

namespace lth::testing {

// The fixture checkpoint (vocab of 200, max_position_embeddings 64).
inline std::string fixture_model() { return shared_dir() + "/fixtures/hf-bert/model"; }
inline std::string data_dir(const std::string& rel) { return shared_dir() + "/data/" + rel; }

// Flags every quick run shares: the fixture model, one thread, short sequences.
inline std::string quick_flags() { return "--model " + quote(fixture_model()) + " --threads 1 --max-length 64"; }

// Lines of a file, without their newlines.
inline std::vector<std::string> file_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The lines of a command's output (stderr, stdout), without their newlines.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

inline std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  for (std::size_t pos; (pos = line.find(sep, begin)) != std::string::npos; begin = pos + 1) {
    out.push_back(line.substr(begin, pos - begin));
  }
  out.push_back(line.substr(begin));
  return out;
}

}  // namespace lth::testing
