// pytorch_model.bin: a zip-format torch.save() of a state dict, unpickled with LibTorch's own reader.
#include <cstring>
#include <string>
#include <vector>

#include <torch/csrc/jit/serialization/pickle.h>
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
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
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
