// Hugging Face checkpoint directories: config.json plus weights in one of
//   model.safetensors | model.safetensors.index.json (sharded) | pytorch_model.bin |
//   pytorch_model.bin.index.json (sharded).
// This layer reads raw named tensors; mapping names onto a model is lib/model's job.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace lth::io {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct CheckpointFiles {
  std::string dir;
  std::string config_path;             // <dir>/config.json
  std::string format;                  // "safetensors", "safetensors-sharded", "bin", "bin-sharded"
  std::vector<std::string> weight_files;  // absolute or dir-relative paths of the files to read
  // Sharded formats only: the index file and its weight_map (tensor name -> path of its shard, joined
  // with dir like weight_files). read_weights() checks the shards against it.
  std::string index_path;
  std::vector<std::pair<std::string, std::string>> weight_map;
};

// Finds what a checkpoint directory holds; throws IoError when it is missing, not a directory, or
// holds no config.json or no weights. Prefers safetensors over .bin when both exist.
CheckpointFiles find_checkpoint(const std::string& dir);

// Reads every tensor of a checkpoint's weight files (all shards), in file order then header order.
// Duplicate names across shards and index entries absent from their shard are errors. Tensors are on
// the CPU; safetensors ones read the file's mapping (SafetensorsFile::map_all: copy-on-write, released
// as each tensor is destroyed), .bin ones own their memory.
NamedTensors read_weights(const CheckpointFiles& files);

// Reads a zip-format torch.save() state dict (pytorch_model.bin). Tensors that share storage in the
// file (tied weights) come back as separate entries. Throws IoError naming the file on damage.
NamedTensors read_torch_bin(const std::string& path);

}  // namespace lth::io
