// pytorch_model.bin: a zip-format torch.save() of a state dict, unpickled with LibTorch's own reader
// (the same steps as torch::pickle_load, over a bounds-checked byte source).
#include <cstring>
#include <string>
#include <vector>

#include <algorithm>
#include <memory>

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "io/checkpoint.h"

namespace lth::io {
namespace {

bool starts_with(const std::string& bytes, const char* prefix, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), prefix, n) == 0;
}

// The legacy (PyTorch < 1.6 default) format is a bare pickle stream that starts with protocol 2
// (0x80 0x02) followed by torch's magic number 0x1950a86a20f9469cfc6c as a pickled long.
bool looks_like_legacy_torch_save(const std::string& bytes) {
  static const char kLegacyPrefix[] = {'\x80', '\x02', '\x8a', '\x0a', '\x6c', '\xfc', '\x9c',
                                       '\x46', '\xf9', '\x20', '\x6a', '\xa8', '\x50', '\x19'};
  return starts_with(bytes, kLegacyPrefix, sizeof(kLegacyPrefix));
}

// Serves the archive bytes to LibTorch's zip reader, never reading past the end. (LibTorch 1.13's own
// in-memory adapter behind torch::pickle_load copies whatever range it is asked for, so a truncated
// or damaged archive makes it read out of bounds; a short read here makes miniz fail cleanly instead.)
class BoundedReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::string& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    const size_t count = std::min<uint64_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, count);
    return count;
  }

 private:
  const std::string& bytes_;
};

// What torch::pickle_load does, with the bounded reader: the pickle is the archive's data.pkl and
// tensor storages are the records data/<key>.
c10::IValue unpickle_archive(const std::string& bytes) {
  caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(bytes));
  return torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"", c10::nullopt,
                                           c10::nullopt, c10::nullopt, reader);
}

}  // namespace

NamedTensors read_torch_bin(const std::string& path) {
  const std::string bytes = read_file(path);
  if (looks_like_legacy_torch_save(bytes))
    LTH_FAIL(IoError,
             "{}: not a readable PyTorch checkpoint: legacy (non-zip) torch.save format; re-save it with a recent "
             "PyTorch (>= 1.6, torch.save(state_dict, path)) or convert it to safetensors",
             path);
  LTH_CHECK(starts_with(bytes, "PK\x03\x04", 4), IoError,
            "{}: not a readable PyTorch checkpoint: not a zip archive ({} bytes, no zip signature)", path,
            bytes.size());

  c10::IValue value;
  try {
    value = unpickle_archive(bytes);
  } catch (const c10::Error& e) {
    LTH_FAIL(IoError, "{}: not a readable PyTorch checkpoint: {}", path, e.what_without_backtrace());
  } catch (const std::exception& e) {
    LTH_FAIL(IoError, "{}: not a readable PyTorch checkpoint: {}", path, e.what());
  }
  LTH_CHECK(value.isGenericDict(), IoError,
            "{}: not a state dict: torch.save() stored a {}, expected a dict of name -> tensor", path,
            value.tagKind());

  NamedTensors out;
  for (const auto& item : value.toGenericDict()) {
    const c10::IValue& key = item.key();
    LTH_CHECK(key.isString(), IoError, "{}: not a state dict: a key is a {}, expected a string", path, key.tagKind());
    const std::string name = key.toStringRef();
    const c10::IValue& v = item.value();
    LTH_CHECK(v.isTensor(), IoError, "{}: not a state dict: value of '{}' is a {}, expected a tensor", path, name,
              v.tagKind());
    const at::Tensor& t = v.toTensor();
    LTH_CHECK(t.device().is_cpu(), IoError, "{}: tensor '{}' is on {}, expected CPU", path, name, t.device().str());
    // Tied weights share one storage in the file; give every entry its own memory.
    out.emplace_back(name, t.clone(at::MemoryFormat::Contiguous));
  }
  return out;
}

}  // namespace lth::io
