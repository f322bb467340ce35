// The safetensors format (https://huggingface.co/docs/safetensors): 8-byte little-endian header
// length N, N bytes of JSON header ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {string: string}}), then the raw little-endian tensor bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lth::io {

struct TensorEntry {
  std::string name;
  std::string dtype;           // "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;
  uint64_t begin = 0;          // byte offsets relative to the data buffer
  uint64_t end = 0;
};

// A memory-mapped safetensors file whose header has been fully validated on open: header length vs
// file size, well-formed JSON, known dtypes, non-negative shapes, offsets inside the buffer and not
// overlapping, byte count = numel * item size. Every problem throws IoError naming the file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensors in header order.
  const std::vector<TensorEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  const TensorEntry& entry(const std::string& name) const;  // throws IoError when absent

  // A new tensor (owning its memory, CPU) holding the named tensor's values.
  at::Tensor load(const std::string& name) const;
  // Every tensor, in header order.
  std::vector<std::pair<std::string, at::Tensor>> load_all() const;
  // Every tensor, in header order, reading the file's pages instead of copies of them, so a model
  // loaded from them holds its weights once, not twice (docs/BENCHMARKS.md "Peak memory"). Writing to
  // one is copy-on-write: it changes neither the file nor another tensor. Each keeps the mapping
  // alive, and the pages only it covers leave memory when it is destroyed. Bools, empty tensors and
  // data not aligned to its element size are copied, as load_all() does.
  std::vector<std::pair<std::string, at::Tensor>> map_all() const;

 private:
  std::string path_;
  std::vector<TensorEntry> entries_;
  std::map<std::string, size_t> index_;  // name -> position in entries_ (lookups stay O(log n))
  std::map<std::string, std::string> metadata_;
  const uint8_t* data_ = nullptr;  // start of the tensor data buffer inside the mapping
  std::shared_ptr<void> mapping_;  // the file's mapping (munmap when neither this nor a map_all() tensor holds it)
};

// Writes tensors (any of the supported dtypes, made contiguous, CPU) and string metadata to `path`
// atomically. Names must be unique. Header padded with spaces to a multiple of 8 bytes.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Maps a safetensors dtype string to a torch scalar type and back; throws IoError for unknown ones.
c10::ScalarType scalar_type_from_dtype(const std::string& dtype);
std::string dtype_from_scalar_type(c10::ScalarType type);

}  // namespace lth::io
