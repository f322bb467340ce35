// pytorch_model.bin: a zip-format torch.save() of a state dict, unpickled with LibTorch's own reader
// (the same steps as torch::pickle_load, over a bounds-checked byte source).
#include <cstring>
#include <string>
#include <vector>

#include <algorithm>
#include <cstdint>
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

// --- Zip directory check --------------------------------------------------------------------------
// LibTorch allocates each record's *claimed* uncompressed size before reading it, so a damaged
// central directory could ask for terabytes. Every entry must fit the file (stored entries, which is
// what torch.save writes) or have a plausible deflate ratio.

uint64_t le(const std::string& b, uint64_t pos, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[pos + static_cast<uint64_t>(i)]);
  return v;
}

[[noreturn]] void bad_zip(const std::string& path, const std::string& what) {
  LTH_FAIL(IoError, "{}: not a readable PyTorch checkpoint: damaged zip archive ({})", path, what);
}

struct CentralDirectory {
  uint64_t entries = 0, size = 0, offset = 0;
};

// Where the end-of-central-directory record (or its zip64 form) says the central directory is.
CentralDirectory find_central_directory(const std::string& b, const std::string& path) {
  const uint64_t size = b.size();
  if (size < 22) bad_zip(path, "too short for an end-of-central-directory record");
  // End of central directory: the last signature within 22 + 65535 (comment) bytes of the end.
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  for (uint64_t p = size - 22 + 1; p-- > lowest;) {
    if (le(b, p, 4) == 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd == UINT64_MAX) bad_zip(path, "no end-of-central-directory record");
  CentralDirectory cd{le(b, eocd + 10, 2), le(b, eocd + 12, 4), le(b, eocd + 16, 4)};
  if (cd.entries == 0xFFFF || cd.size == 0xFFFFFFFF || cd.offset == 0xFFFFFFFF) {
    // Zip64: the locator sits right before the EOCD and points at the zip64 EOCD record.
    if (eocd < 20 || le(b, eocd - 20, 4) != 0x07064b50) bad_zip(path, "zip64 locator missing");
    const uint64_t rec = le(b, eocd - 20 + 8, 8);
    if (rec > size || size - rec < 56 || le(b, rec, 4) != 0x06064b50) bad_zip(path, "zip64 end record out of place");
    cd.entries = le(b, rec + 32, 8);
    cd.size = le(b, rec + 40, 8);
    cd.offset = le(b, rec + 48, 8);
  }
  return cd;
}

// Checks central directory entry `i` at `p` (the directory ends at `cd_end`); returns its length.
uint64_t check_zip_entry(const std::string& b, const std::string& path, uint64_t p, uint64_t cd_end, uint64_t i) {
  const uint64_t size = b.size();
  if (cd_end - p < 46 || le(b, p, 4) != 0x02014b50) bad_zip(path, fmt::format("central directory entry {} is damaged", i));
  const uint64_t method = le(b, p + 10, 2);
  uint64_t comp = le(b, p + 20, 4), uncomp = le(b, p + 24, 4);
  const uint64_t name_len = le(b, p + 28, 2), extra_len = le(b, p + 30, 2), comment_len = le(b, p + 32, 2);
  uint64_t offset = le(b, p + 42, 4);
  if (cd_end - p - 46 < name_len + extra_len + comment_len) bad_zip(path, fmt::format("entry {} runs past the directory", i));
  // Zip64 extended information: the 0xFFFFFFFF fields, in the order uncompressed, compressed, offset.
  uint64_t x = p + 46 + name_len;
  const uint64_t x_end = x + extra_len;
  while (x_end - x >= 4) {
    const uint64_t id = le(b, x, 2), len = le(b, x + 2, 2);
    if (x_end - x - 4 < len) bad_zip(path, fmt::format("entry {} has a damaged extra field", i));
    if (id == 0x0001) {
      uint64_t f = x + 4;
      auto take = [&](uint64_t& field) {
        if (field != 0xFFFFFFFF) return;
        if (x + 4 + len - f < 8) bad_zip(path, fmt::format("entry {} has a short zip64 field", i));
        field = le(b, f, 8);
        f += 8;
      };
      take(uncomp);
      take(comp);
      take(offset);
    }
    x += 4 + len;
  }
  if (offset > size || comp > size - offset) bad_zip(path, fmt::format("entry {} lies outside the file", i));
  if (method == 0 && uncomp != comp)
    bad_zip(path, fmt::format("stored entry {} claims {} bytes but holds {}", i, uncomp, comp));
  if (method != 0 && uncomp / 1100 > comp + 1)
    bad_zip(path, fmt::format("entry {} claims an impossible compression ratio", i));
  return 46 + name_len + extra_len + comment_len;
}

void check_zip_directory(const std::string& b, const std::string& path) {
  const CentralDirectory cd = find_central_directory(b, path);
  if (cd.offset > b.size() || cd.size > b.size() - cd.offset) bad_zip(path, "central directory outside the file");
  if (cd.entries > cd.size / 46) bad_zip(path, "more entries than the central directory holds");
  uint64_t p = cd.offset;
  const uint64_t cd_end = cd.offset + cd.size;
  for (uint64_t i = 0; i < cd.entries; ++i) p += check_zip_entry(b, path, p, cd_end, i);
}

// --- Pickle bounds ---------------------------------------------------------------------------------
// LibTorch's unpickler builds containers iteratively but frees (and walks) them recursively, so a
// tuple nested 300k deep overflows the stack. The opcodes are scanned first with a model of the
// unpickler's stack: every container knows its nesting depth and the containers holding it, and a
// pickle nesting deeper than kMaxPickleDepth (or self-referencing, which nests without end) is refused.

constexpr uint32_t kMaxPickleDepth = 200;

class PickleScanner {
 public:
  PickleScanner(const std::string& bytes, const std::string& path) : b_(bytes), path_(path) {}

  void scan() {
    while (true) {
      if (pos_ >= b_.size()) fail("ends without a STOP opcode");
      const uint64_t at = pos_;
      const auto op = static_cast<unsigned char>(b_[pos_++]);
      if (op == '.') return;  // STOP
      if (!stack_opcode(op) && !scalar_opcode(op) && !container_opcode(op) && !memo_opcode(op))
        fail(fmt::format("unknown opcode 0x{:02x} at byte {}", op, at));
    }
  }

 private:
  // Each *_opcode models one family of opcodes on the stack and returns false for any other opcode.

  // MARK, POP, POP_MARK, DUP.
  bool stack_opcode(unsigned char op) {
    switch (op) {
      case '(': marks_.push_back(stack_.size()); return true;
      case '0':
        if (!marks_.empty() && marks_.back() == stack_.size()) {
          marks_.pop_back();
        } else {
          pop();
        }
        return true;
      case '1': pop_mark(); return true;
      case '2': push(top()); return true;
      default: return false;
    }
  }

  // Opcodes whose result holds no container (numbers, strings, globals, persistent ids, extensions),
  // and the framing ones that leave the stack as it is.
  bool scalar_opcode(unsigned char op) {
    switch (op) {
      case 'F': case 'I': case 'L': case 'S': case 'V': line(); push(kScalar); return true;
      case 'J': skip(4); push(kScalar); return true;
      case 'K': skip(1); push(kScalar); return true;
      case 'M': skip(2); push(kScalar); return true;
      case 0x8a: skip(arg(1)); push(kScalar); return true;  // LONG1
      case 0x8b: skip(signed_arg4()); push(kScalar); return true;  // LONG4
      case 'T': skip(signed_arg4()); push(kScalar); return true;  // BINSTRING
      case 'U': case 'C': case 0x8c: skip(arg(1)); push(kScalar); return true;
      case 'X': case 'B': skip(arg(4)); push(kScalar); return true;
      case 0x8d: case 0x8e: case 0x96: skip(arg(8)); push(kScalar); return true;
      case 'N': case 0x88: case 0x89: push(kScalar); return true;
      case 'c': line(); line(); push(kScalar); return true;  // GLOBAL
      case 0x93: pop(); pop(); push(kScalar); return true;   // STACK_GLOBAL
      case 'P': line(); push(kScalar); return true;          // PERSID
      case 'Q': pop(); push(kScalar); return true;           // BINPERSID
      case 0x82: skip(1); push(kScalar); return true;        // EXT1
      case 0x83: skip(2); push(kScalar); return true;        // EXT2
      case 0x84: skip(4); push(kScalar); return true;        // EXT4
      case 0x80: skip(1); return true;                       // PROTO
      case 0x95: skip(8); return true;                       // FRAME
      case 0x97: push(kScalar); return true;                 // NEXT_BUFFER
      case 0x98: return true;                                // READONLY_BUFFER
      default: return false;
    }
  }

  // Opcodes that build a container or add to one.
  bool container_opcode(unsigned char op) {
    switch (op) {
      case 'a': {  // APPEND
        const int64_t child = pop();
        add_child(top(), child);
        return true;
      }
      case 'b': {  // BUILD
        const int64_t state = pop();
        add_child(top(), state);
        return true;
      }
      case 'e': case 'u': case 0x90: {  // APPENDS, SETITEMS, ADDITEMS
        const std::vector<int64_t> items = pop_mark();
        const int64_t target = top();
        for (int64_t item : items) add_child(target, item);
        return true;
      }
      case 's': {  // SETITEM
        const int64_t value = pop(), key = pop();
        add_child(top(), key);
        add_child(top(), value);
        return true;
      }
      case 'd': case 'l': case 't': case 0x91: case 'o': push(container(pop_mark())); return true;
      case 'i': line(); line(); push(container(pop_mark())); return true;  // INST
      case '}': case ']': case ')': case 0x8f: push(container({})); return true;
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        std::vector<int64_t> items;
        for (int k = 0; k < op - 0x84; ++k) items.push_back(pop());
        push(container(items));
        return true;
      }
      case 'R': case 0x81: {  // REDUCE, NEWOBJ
        const int64_t args = pop(), callable = pop();
        push(container({args, callable}));
        return true;
      }
      case 0x92: {  // NEWOBJ_EX
        const int64_t kwargs = pop(), args = pop(), cls = pop();
        push(container({kwargs, args, cls}));
        return true;
      }
      default: return false;
    }
  }

  // GET, BINGET, LONG_BINGET, PUT, BINPUT, LONG_BINPUT, MEMOIZE.
  bool memo_opcode(unsigned char op) {
    switch (op) {
      case 'g': push(memo_get(parse_index(line()))); return true;
      case 'h': push(memo_get(arg(1))); return true;
      case 'j': push(memo_get(arg(4))); return true;
      case 'p': memo_put(parse_index(line())); return true;
      case 'q': memo_put(arg(1)); return true;
      case 'r': memo_put(arg(4)); return true;
      case 0x94: memo_put(memo_.size()); return true;  // MEMOIZE
      default: return false;
    }
  }

  static constexpr int64_t kScalar = -1;
  struct Node {
    uint32_t depth = 1;
    std::vector<uint32_t> parents;
  };

  [[noreturn]] void fail(const std::string& what) const {
    LTH_FAIL(IoError, "{}: not a readable PyTorch checkpoint: data.pkl {}", path_, what);
  }
  void skip(uint64_t n) {
    if (n > b_.size() - pos_) fail(fmt::format("is truncated (an argument of {} bytes at byte {})", n, pos_));
    pos_ += n;
  }
  uint64_t arg(int n) {
    const uint64_t at = pos_;
    skip(static_cast<uint64_t>(n));
    return le(b_, at, n);
  }
  uint64_t signed_arg4() {
    const uint64_t v = arg(4);
    if (v & 0x80000000u) fail(fmt::format("has a negative length at byte {}", pos_ - 4));
    return v;
  }
  std::string line() {
    const size_t nl = b_.find('\n', pos_);
    if (nl == std::string::npos) fail("is truncated (a text argument without its newline)");
    std::string out = b_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return out;
  }
  uint64_t parse_index(const std::string& text) {
    uint64_t v = 0;
    if (text.empty() || text.size() > 18) fail(fmt::format("has a bad memo index before byte {}", pos_));
    for (char c : text) {
      if (c < '0' || c > '9') fail(fmt::format("has a bad memo index before byte {}", pos_));
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  }
  void push(int64_t entry) { stack_.push_back(entry); }
  int64_t top() const {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail(fmt::format("pops an empty stack at byte {}", pos_));
    return stack_.back();
  }
  int64_t pop() {
    const int64_t v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<int64_t> pop_mark() {
    if (marks_.empty()) fail(fmt::format("uses a mark it never set at byte {}", pos_));
    std::vector<int64_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  // As LibTorch's unpickler: a PUT appends to the memo whatever its id (Python writes them in order)
  // and reserves room for 2 x id, so ids far beyond the memo's size (a 4-byte id asks for ~64 GB) are
  // refused; a GET indexes the memo by position.
  void memo_put(uint64_t id) {
    if (id > memo_.size() + (uint64_t{1} << 16))
      fail(fmt::format("stores memo id {} with only {} entries before it", id, memo_.size()));
    memo_.push_back(top());
  }
  int64_t memo_get(uint64_t index) const {
    if (index >= memo_.size()) fail(fmt::format("reads memo entry {} that was never stored", index));
    return memo_[index];
  }
  uint32_t depth(int64_t entry) const { return entry < 0 ? 0 : nodes_[static_cast<size_t>(entry)].depth; }
  int64_t container(const std::vector<int64_t>& children) {
    nodes_.emplace_back();
    const auto id = static_cast<uint32_t>(nodes_.size() - 1);
    for (int64_t child : children) add_child(id, child);
    return id;
  }
  void add_child(int64_t parent, int64_t child) {
    if (parent < 0) return;  // not a container; LibTorch reports it
    if (child >= 0) nodes_[static_cast<size_t>(child)].parents.push_back(static_cast<uint32_t>(parent));
    raise(static_cast<uint32_t>(parent), depth(child) + 1);
  }
  // Sets a container's depth to at least `d` and carries the increase to every container holding it.
  void raise(uint32_t node, uint32_t d) {
    std::vector<std::pair<uint32_t, uint32_t>> work = {{node, d}};
    while (!work.empty()) {
      const auto [n, nd] = work.back();
      work.pop_back();
      Node& info = nodes_[n];
      if (nd <= info.depth) continue;
      if (nd > kMaxPickleDepth)
        fail(fmt::format("nests containers deeper than {} levels (or holds itself); refusing to unpickle it",
                         kMaxPickleDepth));
      if (++steps_ > 50'000'000) fail("is too intricate to check (too many shared containers)");
      info.depth = nd;
      for (uint32_t p : info.parents) work.emplace_back(p, nd + 1);
    }
  }

  const std::string& b_;
  const std::string& path_;
  uint64_t pos_ = 0;
  uint64_t steps_ = 0;
  std::vector<int64_t> stack_;
  std::vector<size_t> marks_;
  std::vector<Node> nodes_;
  std::vector<int64_t> memo_;
};

// What torch::pickle_load does, with the bounded reader: the pickle is the archive's data.pkl and
// tensor storages are the records data/<key>.
c10::IValue unpickle_archive(const std::string& bytes, const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(bytes));
  LTH_CHECK(reader.hasRecord("data.pkl"), IoError, "{}: not a readable PyTorch checkpoint: the archive has no data.pkl",
            path);
  {
    auto [data, size] = reader.getRecord("data.pkl");
    const std::string pickle(static_cast<const char*>(data.get()), size);
    PickleScanner(pickle, path).scan();
  }
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

  check_zip_directory(bytes, path);
  c10::IValue value;
  try {
    value = unpickle_archive(bytes, path);
  } catch (const lth::Error&) {
    throw;
  } catch (const c10::Error& e) {
    // LibTorch's messages can span lines and name its own sources: the first line, clipped.
    const std::string what = e.what_without_backtrace();
    LTH_FAIL(IoError, "{}: not a readable PyTorch checkpoint: {}", path, clip(what.substr(0, what.find('\n')), 160));
  } catch (const std::exception& e) {
    LTH_FAIL(IoError, "{}: not a readable PyTorch checkpoint: {}", path, clip(e.what(), 160));
  }
  LTH_CHECK(value.isGenericDict(), IoError,
            "{}: not a state dict: torch.save() stored a {}, expected a dict of name -> tensor", path,
            value.tagKind());

  NamedTensors out;
  try {
    for (const auto& item : value.toGenericDict()) {
      const c10::IValue& key = item.key();
      LTH_CHECK(key.isString(), IoError, "{}: not a state dict: a key is a {}, expected a string", path, key.tagKind());
      const std::string name = key.toStringRef();
      const std::string shown = clip(name, 120);
      const c10::IValue& v = item.value();
      LTH_CHECK(v.isTensor(), IoError, "{}: not a state dict: value of '{}' is a {}, expected a tensor", path, shown,
                v.tagKind());
      const at::Tensor& t = v.toTensor();
      LTH_CHECK(t.device().is_cpu(), IoError, "{}: tensor '{}' is on {}, expected CPU", path, shown, t.device().str());
      LTH_CHECK(t.layout() == c10::kStrided && !t.is_quantized(), IoError,
                "{}: tensor '{}' is sparse or quantized; lth reads dense tensors", path, shown);
      // The copy below allocates numel elements: a view may not claim more than its storage holds
      // (a size of 2^40 with stride 0 over one float would otherwise ask for 4 TB).
      const uint64_t storage_elems = t.storage().nbytes() / std::max<size_t>(1, t.element_size());
      LTH_CHECK(static_cast<uint64_t>(t.numel()) <= storage_elems, IoError,
                "{}: tensor '{}' has {} elements but its storage holds {}", path, shown, t.numel(), storage_elems);
      // Tied weights share one storage in the file; give every entry its own memory.
      out.emplace_back(name, t.clone(at::MemoryFormat::Contiguous));
    }
  } catch (const lth::Error&) {
    throw;
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    LTH_FAIL(IoError, "{}: not a readable PyTorch checkpoint: {}", path, clip(what.substr(0, what.find('\n')), 160));
  }
  return out;
}

}  // namespace lth::io
