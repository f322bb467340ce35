#include "prune/run_layout.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/file.h"

namespace lth::prune {
namespace fs = std::filesystem;

namespace {

constexpr const char kLevelPrefix[] = "level_";
constexpr size_t kLevelPrefixSize = sizeof(kLevelPrefix) - 1;

// "level_K" (K one or more digits) -> true and K.
bool parse_level_folder(const std::string& name, int& k) {
  if (name.rfind(kLevelPrefix, 0) != 0 || name.size() == kLevelPrefixSize) return false;
  // At most 9 digits: a folder like level_99999999999 is not a level (and not an int).
  if (name.size() - kLevelPrefixSize > 9 ||
      !std::all_of(name.begin() + kLevelPrefixSize, name.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return false;
  }
  k = std::stoi(name.substr(kLevelPrefixSize));
  return true;
}

}  // namespace

std::map<int, LevelLayout> BranchLayout::levels_on_disk(std::error_code& ec) const {
  std::map<int, LevelLayout> out;
  ec.clear();
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    int k = 0;
    if (!parse_level_folder(it->path().filename().string(), k)) continue;
    if (!it->is_directory(ec)) continue;
    out.insert_or_assign(k, LevelLayout(it->path().string()));
  }
  return out;
}

std::vector<std::pair<std::string, BranchLayout>> RunLayout::baselines_on_disk() const {
  std::vector<std::pair<std::string, BranchLayout>> out;
  std::error_code ec;
  for (fs::directory_iterator it(baselines_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) out.emplace_back(it->path().filename().string(), BranchLayout(it->path().string()));
  }
  return out;
}

bool RunLayout::looks_like_run() const {
  std::error_code ec;
  return path_exists(config()) || path_exists(summary()) || !trunk().levels_on_disk(ec).empty();
}

std::string RunLayout::task_slug(const std::string& task) {
  std::string slug = task;
  for (char& c : slug)
    if (c == '/' || c == '.') c = '-';
  return slug;
}

}  // namespace lth::prune
