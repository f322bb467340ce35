#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_set>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "lth::io reads and writes safetensors bytes as-is and needs a little-endian host");

namespace lth::io {
namespace {

using OrderedJson = nlohmann::ordered_json;

// The safetensors reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
  size_t item_size;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", c10::ScalarType::Float, 4},   {"F16", c10::ScalarType::Half, 2},  {"BF16", c10::ScalarType::BFloat16, 2},
    {"F64", c10::ScalarType::Double, 8},  {"I64", c10::ScalarType::Long, 8},  {"I32", c10::ScalarType::Int, 4},
    {"I8", c10::ScalarType::Char, 1},     {"U8", c10::ScalarType::Byte, 1},   {"BOOL", c10::ScalarType::Bool, 1},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string known_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += (out.empty() ? "" : " ") + std::string(d.name);
  return out;
}

const char* json_type(const OrderedJson& j) { return j.type_name(); }

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the header, remembering keys that occur twice in one object (nlohmann keeps only one).
OrderedJson parse_header(const std::string& path, const char* begin, const char* end) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool duplicate_is_tensor = false;
  auto callback = [&](int /*depth*/, OrderedJson::parse_event_t event, OrderedJson& parsed) {
    switch (event) {
      case OrderedJson::parse_event_t::object_start: open_objects.emplace_back(); break;
      case OrderedJson::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case OrderedJson::parse_event_t::key:
        if (duplicate.empty() && !open_objects.empty() && parsed.is_string()) {
          const std::string& key = parsed.get_ref<const std::string&>();
          if (!open_objects.back().insert(key).second) {
            duplicate = key;
            duplicate_is_tensor = open_objects.size() == 1;
          }
        }
        break;
      default: break;
    }
    return true;
  };
  std::size_t deep_at = 0;
  LTH_CHECK(json_nesting_depth(begin, end, kMaxJsonDepth, &deep_at) <= kMaxJsonDepth, IoError,
            "{}: safetensors header nests deeper than {} levels (file byte {})", path, kMaxJsonDepth, 8 + deep_at);
  OrderedJson header;
  try {
    header = OrderedJson::parse(begin, end, callback);
  } catch (const OrderedJson::parse_error& e) {
    // e.byte counts from 1 within the header; the header starts at file byte 8.
    LTH_FAIL(IoError, "{}: safetensors header is not valid JSON (file byte {}): {}", path,
             8 + (e.byte > 0 ? e.byte - 1 : 0), clip(e.what(), 150));
  } catch (const OrderedJson::exception& e) {
    LTH_FAIL(IoError, "{}: safetensors header is not valid JSON: {}", path, clip(e.what(), 150));
  }
  if (!duplicate.empty()) {
    if (duplicate_is_tensor)
      LTH_FAIL(IoError, "{}: safetensors header has duplicate tensor name '{}'", path, clip(duplicate, 120));
    LTH_FAIL(IoError, "{}: safetensors header has duplicate key '{}' inside an entry", path, clip(duplicate, 120));
  }
  return header;
}

TensorEntry parse_entry(const std::string& path, const std::string& name, const OrderedJson& value,
                        uint64_t data_size) {
  auto fail_prefix = [&] { return fmt::format("{}: tensor '{}'", path, clip(name, 100)); };
  LTH_CHECK(value.is_object(), IoError, "{}: entry is a JSON {}, expected an object", fail_prefix(), json_type(value));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    LTH_CHECK(value.contains(key), IoError, "{}: missing '{}'", fail_prefix(), key);

  TensorEntry entry;
  entry.name = name;
  const auto& dtype = value.at("dtype");
  LTH_CHECK(dtype.is_string(), IoError, "{}: 'dtype' is a JSON {}, expected a string", fail_prefix(), json_type(dtype));
  entry.dtype = dtype.get<std::string>();
  const DtypeInfo* info = find_dtype(entry.dtype);
  LTH_CHECK(info != nullptr, IoError, "{}: unknown dtype '{}' (known: {})", fail_prefix(), clip(entry.dtype, 20),
            known_dtypes());

  const auto& shape = value.at("shape");
  LTH_CHECK(shape.is_array(), IoError, "{}: 'shape' is a JSON {}, expected an array", fail_prefix(), json_type(shape));
  uint64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const auto& dim = shape[i];
    LTH_CHECK(dim.is_number_integer(), IoError, "{}: shape[{}] is a JSON {}, expected an integer", fail_prefix(), i,
              json_type(dim));
    // nlohmann stores every non-negative integer as unsigned, so a signed one is negative.
    LTH_CHECK(dim.is_number_unsigned(), IoError,
              "{}: negative dimension {} at shape[{}]", fail_prefix(), clip(dim.dump()), i);
    const uint64_t d = dim.get<uint64_t>();
    LTH_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), IoError,
              "{}: dimension {} at shape[{}] is too large", fail_prefix(), d, i);
    LTH_CHECK(!__builtin_mul_overflow(numel, d, &numel), IoError, "{}: element count overflows (shape {})",
              fail_prefix(), clip(shape.dump()));
    entry.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t nbytes = 0;
  LTH_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(info->item_size), &nbytes) &&
                numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
            IoError, "{}: byte size overflows (shape {}, dtype {})", fail_prefix(), clip(shape.dump()), entry.dtype);

  const auto& offsets = value.at("data_offsets");
  LTH_CHECK(offsets.is_array() && offsets.size() == 2, IoError,
            "{}: 'data_offsets' must be an array of two integers, got {}", fail_prefix(), clip(offsets.dump()));
  for (size_t i = 0; i < 2; ++i) {
    LTH_CHECK(offsets[i].is_number_unsigned(), IoError,
              "{}: data_offsets[{}] is {}, expected a non-negative integer", fail_prefix(), i,
              clip(offsets[i].dump()));
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  LTH_CHECK(entry.end >= entry.begin, IoError, "{}: data_offsets end {} < begin {}", fail_prefix(), entry.end,
            entry.begin);
  LTH_CHECK(entry.end <= data_size, IoError,
            "{}: data_offsets [{}, {}] out of bounds of the data buffer ({} bytes)", fail_prefix(), entry.begin,
            entry.end, data_size);
  LTH_CHECK(entry.end - entry.begin == nbytes, IoError,
            "{}: byte count mismatch: data_offsets span {} bytes but shape {} x {} needs {}", fail_prefix(),
            entry.end - entry.begin, clip(shape.dump()), entry.dtype, nbytes);
  return entry;
}

}  // namespace

c10::ScalarType scalar_type_from_dtype(const std::string& dtype) {
  const DtypeInfo* info = find_dtype(dtype);
  LTH_CHECK(info != nullptr, IoError, "unknown safetensors dtype '{}' (known: {})", dtype, known_dtypes());
  return info->type;
}

std::string dtype_from_scalar_type(c10::ScalarType type) {
  for (const auto& d : kDtypes)
    if (d.type == type) return d.name;
  LTH_FAIL(IoError, "scalar type {} cannot be stored in safetensors (supported: {})", c10::toString(type),
           known_dtypes());
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LTH_CHECK(fd >= 0, IoError, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    LTH_FAIL(IoError, "{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    LTH_FAIL(IoError, "{}: not a regular file", path);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    LTH_FAIL(IoError, "{}: file too short for a safetensors file ({} bytes, need at least 8)", path, size);
  }
  // Private and writable: map_all()'s tensors may be written to (copy-on-write), never the file.
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  LTH_CHECK(map != MAP_FAILED, IoError, "{}: cannot mmap: {}", path, std::strerror(map_errno));
  // Owned from here on: a throw below destroys mapping_ (a constructed member) and unmaps; later
  // it is shared with map_all()'s tensors, which may outlive this object.
  mapping_ = std::shared_ptr<void>(map, [size](void* p) { ::munmap(p, size); });

  const auto* bytes = static_cast<const uint8_t*>(map);
  const uint64_t header_len = read_u64_le(bytes);
  LTH_CHECK(header_len <= kMaxHeaderBytes, IoError,
            "{}: header length {} is absurd (limit {} bytes; not a safetensors file?)", path, header_len,
            kMaxHeaderBytes);
  LTH_CHECK(header_len <= size - 8, IoError,
            "{}: header length {} runs past the end of the file ({} bytes)", path, header_len, size);
  LTH_CHECK(header_len >= 2, IoError, "{}: header length {} is too short for a JSON object", path, header_len);
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  LTH_CHECK(header_begin[0] == '{', IoError, "{}: safetensors header is not a JSON object (file byte 8 is not '{{')",
            path);
  const OrderedJson header = parse_header(path, header_begin, header_begin + header_len);
  LTH_CHECK(header.is_object(), IoError, "{}: safetensors header is a JSON {}, not an object", path,
            json_type(header));

  data_ = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      LTH_CHECK(value.is_object(), IoError, "{}: __metadata__ is a JSON {}, expected a string->string map", path,
                json_type(value));
      for (const auto& [key, v] : value.items()) {
        LTH_CHECK(v.is_string(), IoError,
                  "{}: __metadata__ value of '{}' is a JSON {}, expected a string (metadata must be string->string)",
                  path, clip(key), json_type(v));
        metadata_[key] = v.get<std::string>();
      }
      continue;
    }
    entries_.push_back(parse_entry(path, name, value, data_size));
  }

  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
  // No two tensors may share bytes (zero-sized tensors occupy nothing).
  std::vector<const TensorEntry*> by_offset;
  for (const auto& e : entries_)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorEntry& prev = *by_offset[i - 1];
    const TensorEntry& cur = *by_offset[i];
    LTH_CHECK(cur.begin >= prev.end, IoError,
              "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] have overlapping data ranges", path, clip(prev.name),
              prev.begin, prev.end, clip(cur.name), cur.begin, cur.end);
  }
}

SafetensorsFile::~SafetensorsFile() = default;  // mapping_ unmaps once no tensor reads it

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) > 0; }

const TensorEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it != index_.end()) return entries_[it->second];
  LTH_FAIL(IoError, "{}: no tensor named '{}'", path_, clip(name, 120));
}

namespace {

at::Tensor copy_out(const TensorEntry& e, const uint8_t* data) {
  const c10::ScalarType type = scalar_type_from_dtype(e.dtype);
  // Bools are read as bytes and normalised, so a stray byte value > 1 cannot make an invalid bool.
  const c10::ScalarType read_type = type == c10::ScalarType::Bool ? c10::ScalarType::Byte : type;
  at::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(read_type).device(torch::kCPU));
  const uint64_t nbytes = e.end - e.begin;
  if (nbytes > 0) std::memcpy(t.data_ptr(), data + e.begin, nbytes);
  if (type == c10::ScalarType::Bool) t = t.ne(0);
  return t;
}

}  // namespace

at::Tensor SafetensorsFile::load(const std::string& name) const { return copy_out(entry(name), data_); }

std::vector<std::pair<std::string, at::Tensor>> SafetensorsFile::map_all() const {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) {
    const c10::ScalarType type = scalar_type_from_dtype(e.dtype);
    const uint8_t* begin = data_ + e.begin;
    const auto address = reinterpret_cast<uintptr_t>(begin);
    if (type == c10::ScalarType::Bool || e.end == e.begin || address % c10::elementSize(type) != 0) {
      out.emplace_back(e.name, copy_out(e, data_));
      continue;
    }
    // The pages only this tensor covers leave memory with it (a neighbour's shared edge page stays).
    const uintptr_t first = (address + page - 1) / page * page;
    const uintptr_t last = (address + (e.end - e.begin)) / page * page;
    auto release = [mapping = mapping_, first, last](void*) {
      if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    };
    out.emplace_back(e.name, torch::from_blob(const_cast<uint8_t*>(begin), e.shape, release,
                                              torch::TensorOptions().dtype(type).device(torch::kCPU)));
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> SafetensorsFile::load_all() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.emplace_back(e.name, copy_out(e, data_));
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) {
    OrderedJson meta = OrderedJson::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  std::unordered_set<std::string> seen;
  std::vector<at::Tensor> contiguous;
  contiguous.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    LTH_CHECK(!name.empty(), IoError, "{}: cannot save a tensor with an empty name", path);
    LTH_CHECK(name != kMetadataKey, IoError, "{}: '{}' is reserved and cannot name a tensor", path, name);
    LTH_CHECK(seen.insert(name).second, IoError, "{}: duplicate tensor name '{}'", path, name);
    LTH_CHECK(tensor.defined(), IoError, "{}: tensor '{}' is undefined", path, name);
    LTH_CHECK(tensor.device().is_cpu(), IoError, "{}: tensor '{}' is on {}, only CPU tensors can be saved", path, name,
              tensor.device().str());
    LTH_CHECK(tensor.layout() == c10::kStrided, IoError, "{}: tensor '{}' is not a dense (strided) tensor", path, name);
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (d.type == tensor.scalar_type()) info = &d;
    LTH_CHECK(info != nullptr, IoError, "{}: tensor '{}' has unsupported dtype {} (supported: {})", path, name,
              c10::toString(tensor.scalar_type()), known_dtypes());
    at::Tensor c = tensor.contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * info->item_size;
    OrderedJson entry = OrderedJson::object();
    entry["dtype"] = info->name;
    entry["shape"] = c.sizes().vec();
    entry["data_offsets"] = {offset, offset + nbytes};
    header[name] = std::move(entry);
    offset += nbytes;
    contiguous.push_back(std::move(c));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  write_stream_atomic(path, [&](std::ostream& out) {
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i, n >>= 8) len[i] = static_cast<uint8_t>(n & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : contiguous) {
      const auto nbytes = static_cast<std::streamsize>(t.numel() * static_cast<int64_t>(t.element_size()));
      if (nbytes > 0) out.write(static_cast<const char*>(t.data_ptr()), nbytes);
    }
    LTH_CHECK(static_cast<bool>(out), IoError, "{}: write failed", path);
  });
}

}  // namespace lth::io
