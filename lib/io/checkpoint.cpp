#include "io/checkpoint.h"

#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"

namespace lth::io {
namespace {
namespace fs = std::filesystem;

constexpr const char* kSafetensors = "model.safetensors";
constexpr const char* kSafetensorsIndex = "model.safetensors.index.json";
constexpr const char* kBin = "pytorch_model.bin";
constexpr const char* kBinIndex = "pytorch_model.bin.index.json";

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string join(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

// Reads an index.json: {"weight_map": {tensor name: shard file name}, "metadata": {...}}.
void read_index(CheckpointFiles& files, const std::string& index_path) {
  const nlohmann::json index = read_json_file(index_path);  // IoError naming the file on malformed JSON
  LTH_CHECK(index.is_object(), IoError, "{}: index is a JSON {}, expected an object", index_path, index.type_name());
  LTH_CHECK(index.contains("weight_map"), IoError, "{}: index has no 'weight_map'", index_path);
  const auto& map = index.at("weight_map");
  LTH_CHECK(map.is_object(), IoError, "{}: 'weight_map' is a JSON {}, expected an object of name -> shard file",
            index_path, map.type_name());
  LTH_CHECK(!map.empty(), IoError, "{}: 'weight_map' lists no tensors", index_path);

  std::set<std::string> seen_files;
  std::vector<std::string> missing;
  for (const auto& [name, value] : map.items()) {
    LTH_CHECK(value.is_string(), IoError, "{}: weight_map entry '{}' is a JSON {}, expected a shard file name",
              index_path, name, value.type_name());
    const std::string shard = value.get<std::string>();
    const fs::path rel(shard);
    bool escapes = shard.empty() || rel.is_absolute();
    for (const auto& part : rel) escapes = escapes || part == "..";
    LTH_CHECK(!escapes, IoError, "{}: weight_map entry '{}' names shard '{}' outside the checkpoint directory",
              index_path, name, shard);
    const std::string shard_path = join(files.dir, shard);
    files.weight_map.emplace_back(name, shard_path);
    if (seen_files.insert(shard_path).second) {
      files.weight_files.push_back(shard_path);
      if (!is_file(shard_path)) missing.push_back(shard_path);
    }
  }
  if (!missing.empty())
    LTH_FAIL(IoError, "{}: shard file(s) listed in the index are missing: {}", index_path, fmt::join(missing, ", "));
}

}  // namespace

CheckpointFiles find_checkpoint(const std::string& dir) {
  std::error_code ec;
  LTH_CHECK(fs::exists(dir, ec), IoError, "{}: checkpoint directory does not exist", dir);
  LTH_CHECK(fs::is_directory(dir, ec), IoError, "{}: not a directory (expected a checkpoint directory)", dir);

  CheckpointFiles files;
  files.dir = dir;
  files.config_path = join(dir, "config.json");
  LTH_CHECK(is_file(files.config_path), IoError, "{}: checkpoint has no config.json", dir);

  // The layouts save_pretrained writes, in the order Hugging Face prefers them.
  struct Layout {
    const char* file;
    const char* format;
    bool index;
  };
  static constexpr Layout kLayouts[] = {{kSafetensors, "safetensors", false},
                                        {kSafetensorsIndex, "safetensors-sharded", true},
                                        {kBin, "bin", false},
                                        {kBinIndex, "bin-sharded", true}};
  for (const Layout& layout : kLayouts) {
    const std::string path = join(dir, layout.file);
    if (!is_file(path)) continue;
    files.format = layout.format;
    if (layout.index) {
      files.index_path = path;
      read_index(files, path);
    } else {
      files.weight_files = {path};
    }
    return files;
  }
  LTH_FAIL(IoError, "{}: checkpoint has no weights (looked for {}, {}, {}, {})", dir, kSafetensors, kSafetensorsIndex,
           kBin, kBinIndex);
}

NamedTensors read_weights(const CheckpointFiles& files) {
  const bool safetensors = files.format == "safetensors" || files.format == "safetensors-sharded";
  const bool sharded = files.format == "safetensors-sharded" || files.format == "bin-sharded";
  LTH_CHECK(safetensors || files.format == "bin" || files.format == "bin-sharded", IoError,
            "{}: unknown checkpoint format '{}'", files.dir, files.format);
  LTH_CHECK(!files.weight_files.empty(), IoError, "{}: checkpoint lists no weight files", files.dir);

  NamedTensors out;
  std::unordered_map<std::string, std::string> origin;  // tensor name -> file it came from
  for (const auto& file : files.weight_files) {
    NamedTensors part = safetensors ? SafetensorsFile(file).map_all() : read_torch_bin(file);
    for (auto& [name, tensor] : part) {
      const auto [it, inserted] = origin.emplace(name, file);
      LTH_CHECK(inserted, IoError, "{}: tensor '{}' is duplicated across shards ({} and {})", files.dir, name,
                it->second, file);
      out.emplace_back(std::move(name), std::move(tensor));
    }
  }

  if (sharded) {
    std::vector<std::string> absent;
    for (const auto& [name, shard] : files.weight_map) {
      const auto it = origin.find(name);
      if (it == origin.end() || it->second != shard) absent.push_back(fmt::format("'{}' (in {})", name, shard));
    }
    if (!absent.empty()) {
      const size_t shown = std::min<size_t>(absent.size(), 10);
      LTH_FAIL(IoError, "{}: {} tensor(s) listed in the index are absent from their shard: {}{}", files.index_path,
               absent.size(), fmt::join(absent.begin(), absent.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
               absent.size() > shown ? ", ..." : "");
    }
  }
  return out;
}

}  // namespace lth::io
