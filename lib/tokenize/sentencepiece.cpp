#include "tokenize/sentencepiece.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "core/error.h"
#include "tokenize/spm_shim.h"
#include "tokenize/unicode.h"

#ifndef LTH_SPM_SHIM_DEFAULT
#define LTH_SPM_SHIM_DEFAULT ""
#endif
#ifndef LTH_SPM_SHIM_NAME
#define LTH_SPM_SHIM_NAME "liblth_spm.so"
#endif

namespace lth::tokenize {
namespace fs = std::filesystem;

struct SpmModule {
  void* library = nullptr;
  std::string path;
  decltype(&lth_spm_abi_version) abi_version = nullptr;
  decltype(&lth_spm_load) load = nullptr;
  decltype(&lth_spm_free) free = nullptr;
  decltype(&lth_spm_free_string) free_string = nullptr;
  decltype(&lth_spm_vocab_size) vocab_size = nullptr;
  decltype(&lth_spm_find_id) find_id = nullptr;
  decltype(&lth_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&lth_spm_unk_id) unk_id = nullptr;
  decltype(&lth_spm_pad_id) pad_id = nullptr;
  decltype(&lth_spm_encode) encode = nullptr;
};

struct SpmHandle {
  const SpmModule* module;
  lth_spm* spm;
  SpmHandle(const SpmModule* m, lth_spm* s) : module(m), spm(s) {}
  SpmHandle(const SpmHandle&) = delete;
  SpmHandle& operator=(const SpmHandle&) = delete;
  ~SpmHandle() {
    if (spm) module->free(spm);
  }
};

namespace {

// Takes ownership of a C string from the shim.
std::string take_error(const SpmModule& m, char* error) {
  std::string s = error ? error : "unknown error";
  if (error) m.free_string(error);
  return s;
}

std::vector<std::string> shim_candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("LTH_SPM_SHIM"); env && *env) out.emplace_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    for (int level = 0; level <= 3 && !dir.empty(); ++level) {
      out.push_back((dir / LTH_SPM_SHIM_NAME).string());
      if (dir == dir.parent_path()) break;
      dir = dir.parent_path();
    }
  }
  if (*LTH_SPM_SHIM_DEFAULT) out.emplace_back(LTH_SPM_SHIM_DEFAULT);
  return out;
}

const SpmModule& spm_module() {
  static std::mutex mutex;
  static std::unique_ptr<SpmModule> module;
  std::lock_guard<std::mutex> lock(mutex);
  if (module) return *module;
  const char* env = std::getenv("LTH_SPM_SHIM");
  std::string path;
  if (env && *env) {
    path = env;  // an explicit choice is never silently replaced by another file
    LTH_CHECK(fs::exists(path), IoError, "{}: SentencePiece shim (from LTH_SPM_SHIM) does not exist", path);
  } else {
    path = find_spm_shim();
    LTH_CHECK(!path.empty(), IoError,
              "SentencePiece shim {} not found next to the executable, in its parent directories, or at '{}'; "
              "build the lth_spm target or set LTH_SPM_SHIM",
              LTH_SPM_SHIM_NAME, LTH_SPM_SHIM_DEFAULT);
  }
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    LTH_FAIL(IoError, "{}: cannot load the SentencePiece shim: {}", path, why ? why : "unknown error");
  }
  auto m = std::make_unique<SpmModule>();
  m->library = lib;
  m->path = path;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
    if (fn == nullptr) {
      ::dlclose(lib);
      LTH_FAIL(IoError, "{}: the SentencePiece shim lacks the symbol {}", path, name);
    }
  };
  sym(m->abi_version, "lth_spm_abi_version");
  sym(m->load, "lth_spm_load");
  sym(m->free, "lth_spm_free");
  sym(m->free_string, "lth_spm_free_string");
  sym(m->vocab_size, "lth_spm_vocab_size");
  sym(m->find_id, "lth_spm_find_id");
  sym(m->id_to_piece, "lth_spm_id_to_piece");
  sym(m->unk_id, "lth_spm_unk_id");
  sym(m->pad_id, "lth_spm_pad_id");
  sym(m->encode, "lth_spm_encode");
  if (m->abi_version() != LTH_SPM_ABI_VERSION) {
    const int got = m->abi_version();
    ::dlclose(lib);
    LTH_FAIL(IoError, "{}: SentencePiece shim ABI version {}, expected {}", path, got, LTH_SPM_ABI_VERSION);
  }
  module = std::move(m);  // never dlclose'd: the module lives as long as the process
  return *module;
}

}  // namespace

std::string find_spm_shim() {
  std::error_code ec;
  for (const std::string& p : shim_candidates()) {
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_file, const TokenizerConfig& config)
    : source_(model_file), lower_(config.do_lower_case_set && config.do_lower_case) {
  std::error_code ec;
  LTH_CHECK(fs::is_regular_file(model_file, ec), IoError, "{}: SentencePiece model does not exist", model_file);
  module_ = &spm_module();
  char* error = nullptr;
  lth_spm* spm = module_->load(model_file.c_str(), &error);
  LTH_CHECK(spm != nullptr, IoError, "{}: cannot load SentencePiece model: {}", model_file, take_error(*module_, error));
  handle_ = std::make_unique<SpmHandle>(module_, spm);
  vocab_size_ = module_->vocab_size(spm);
  LTH_CHECK(vocab_size_ > 0, ConfigError, "{}: empty vocabulary", model_file);

  // Special tokens: names from tokenizer_config.json when given, else the model's own unk/pad and
  // ALBERT's [CLS]/[SEP]/[MASK]. Absent ones stay -1 (encode() then says which one it needed).
  special_ = config.special;
  const SpecialTokens bert_defaults;
  const std::int64_t unk = module_->unk_id(spm);
  if (special_.unk == bert_defaults.unk && find_id(special_.unk) < 0 && unk >= 0) special_.unk = id_to_token(unk);
  const std::int64_t pad = module_->pad_id(spm);
  if (special_.pad == bert_defaults.pad && find_id(special_.pad) < 0) {
    if (pad >= 0) special_.pad = id_to_token(pad);
    else if (find_id("<pad>") >= 0) special_.pad = "<pad>";
  }
  special_.unk_id = find_id(special_.unk);
  special_.pad_id = find_id(special_.pad);
  special_.cls_id = find_id(special_.cls);
  special_.sep_id = find_id(special_.sep);
  special_.mask_id = find_id(special_.mask);
  LTH_CHECK(special_.unk_id >= 0, ConfigError, "{}: unknown token '{}' is not in the vocabulary", model_file, special_.unk);
  model_max_length_ = config.model_max_length;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::int64_t SentencePieceTokenizer::find_id(const std::string& token) const {
  return module_->find_id(handle_->spm, token.data(), token.size());
}

std::string SentencePieceTokenizer::id_to_token(std::int64_t id) const {
  std::size_t len = 0;
  const char* p = (id >= 0 && id < vocab_size_) ? module_->id_to_piece(handle_->spm, static_cast<int>(id), &len) : nullptr;
  LTH_CHECK(p != nullptr, ConfigError, "{}: token id {} outside the vocabulary (size {})", source_, id, vocab_size_);
  return std::string(p, len);
}

namespace {

struct Collector {
  std::vector<Piece>* out;
  const std::vector<std::uint32_t>* begin_of;  // byte of the encoded string -> original begin
  const std::vector<std::uint32_t>* end_of;    // byte of the encoded string -> original end
  std::int64_t base;
  std::size_t size;
};

void collect(void* user, const char* piece, std::size_t len, int id, std::uint32_t begin, std::uint32_t end) {
  auto* c = static_cast<Collector*>(user);
  Piece p{std::string(piece, len), id, 0, 0};
  if (c->begin_of) {
    begin = std::min<std::uint32_t>(begin, static_cast<std::uint32_t>(c->size));
    end = std::min<std::uint32_t>(end, static_cast<std::uint32_t>(c->size));
    p.begin = begin < c->size ? (*c->begin_of)[begin] : (c->size ? (*c->end_of)[c->size - 1] : 0);
    p.end = end > begin ? (*c->end_of)[end - 1] : p.begin;
  } else {
    p.begin = c->base + begin;
    p.end = c->base + end;
  }
  c->out->push_back(std::move(p));
}

}  // namespace

void SentencePieceTokenizer::encode_plain(const std::string& text, std::size_t begin, std::size_t end,
                                          std::vector<Piece>& out) const {
  std::string input;
  std::vector<std::uint32_t> begin_of, end_of;
  Collector collector{&out, nullptr, nullptr, static_cast<std::int64_t>(begin), end - begin};
  if (lower_) {
    const unicode::Chars lowered = unicode::to_lower(
        unicode::decode_utf8(std::string_view(text).substr(begin, end - begin), static_cast<std::uint32_t>(begin)));
    for (const unicode::Char& c : lowered) {
      const std::size_t before = input.size();
      unicode::append_utf8(input, c.cp);
      for (std::size_t k = before; k < input.size(); ++k) {
        begin_of.push_back(c.begin);
        end_of.push_back(c.end);
      }
    }
    collector = Collector{&out, &begin_of, &end_of, 0, input.size()};
  } else {
    input = text.substr(begin, end - begin);
  }
  char* error = nullptr;
  const int rc = module_->encode(handle_->spm, input.data(), input.size(), collect, &collector, &error);
  LTH_CHECK(rc == 0, IoError, "{}: SentencePiece encoding failed: {}", source_, take_error(*module_, error));
}

// Special tokens written in the text are left to SentencePiece: user-defined pieces ([CLS], [MASK]
// in ALBERT-style models) are matched by SentencePiece itself, exactly as spm_encode does.
std::vector<Piece> SentencePieceTokenizer::tokenize_with_offsets(const std::string& text) const {
  std::vector<Piece> out;
  encode_plain(text, 0, text.size(), out);
  return out;
}

std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_file, const TokenizerConfig& config) {
  return std::make_unique<SentencePieceTokenizer>(model_file, config);
}

}  // namespace lth::tokenize
