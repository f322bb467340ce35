#include "tokenize/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenize/sentencepiece.h"
#include "tokenize/unicode.h"
#include "tokenize/wordpiece.h"

namespace lth::tokenize {
namespace fs = std::filesystem;

Tokenizer::~Tokenizer() = default;

std::vector<std::string> Tokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (Piece& p : tokenize_with_offsets(text)) out.push_back(std::move(p.token));
  return out;
}

std::int64_t Tokenizer::token_to_id(const std::string& token) const {
  const std::int64_t id = find_id(token);
  return id >= 0 ? id : unk_id();
}

namespace {

void require_special(std::int64_t id, const std::string& name, const char* what) {
  LTH_CHECK(id >= 0, ConfigError, "the tokenizer has no {} ('{}' is not in the vocabulary)", what, name);
}

void push(Encoding& enc, const std::string& token, std::int64_t id, std::int64_t type, std::int64_t mask,
          std::pair<std::int64_t, std::int64_t> offset, int sequence, int word) {
  enc.tokens.push_back(token);
  enc.input_ids.push_back(id);
  enc.token_type_ids.push_back(type);
  enc.attention_mask.push_back(mask);
  enc.offsets.push_back(offset);
  enc.sequence_ids.push_back(sequence);
  enc.word_ids.push_back(word);
}

// transformers' truncate_sequences with "longest_first": one token at a time from the end of the
// longer sequence, from the second one on ties. A single sequence that cannot lose enough tokens is
// left as it is (transformers logs an error and does the same).
void truncate(std::vector<Piece>& a, std::vector<Piece>* b, std::vector<int>* a_words, const EncodeOptions& options,
              std::size_t num_special) {
  if (options.max_length <= 0) return;
  const std::size_t total = a.size() + (b ? b->size() : 0) + num_special;
  const std::size_t max_length = static_cast<std::size_t>(options.max_length);
  if (total <= max_length) return;
  const std::size_t remove = total - max_length;
  if (b == nullptr) {
    if (a.size() > remove) {
      a.resize(a.size() - remove);
      if (a_words) a_words->resize(a.size());
    }
    return;
  }
  for (std::size_t k = 0; k < remove; ++k) {
    if (a.size() > b->size()) a.pop_back();
    else if (!b->empty()) b->pop_back();
  }
}

void finish(const Tokenizer& tok, Encoding& enc, const EncodeOptions& options) {
  if (!options.pad_to_max_length || options.max_length <= 0) return;
  const std::size_t max_length = static_cast<std::size_t>(options.max_length);
  if (enc.size() >= max_length) return;
  require_special(tok.pad_id(), tok.special_tokens().pad, "padding token");
  while (enc.size() < max_length) push(enc, tok.special_tokens().pad, tok.pad_id(), 0, 0, {0, 0}, -1, -1);
}

}  // namespace

Encoding Tokenizer::encode(const std::string& text, const std::string* pair, const EncodeOptions& options) const {
  std::vector<Piece> a = tokenize_with_offsets(text);
  std::vector<Piece> b;
  if (pair) b = tokenize_with_offsets(*pair);
  const std::size_t num_special = options.add_special_tokens ? (pair ? 3 : 2) : 0;
  truncate(a, pair ? &b : nullptr, nullptr, options, num_special);
  if (options.add_special_tokens) {
    require_special(cls_id(), special_.cls, "classification token");
    require_special(sep_id(), special_.sep, "separator token");
  }
  Encoding enc;
  if (options.add_special_tokens) push(enc, special_.cls, cls_id(), 0, 1, {0, 0}, -1, -1);
  for (const Piece& p : a) push(enc, p.token, p.id, 0, 1, {p.begin, p.end}, 0, -1);
  if (options.add_special_tokens) push(enc, special_.sep, sep_id(), 0, 1, {0, 0}, -1, -1);
  if (pair) {
    for (const Piece& p : b) push(enc, p.token, p.id, 1, 1, {p.begin, p.end}, 1, -1);
    if (options.add_special_tokens) push(enc, special_.sep, sep_id(), 1, 1, {0, 0}, -1, -1);
  }
  finish(*this, enc, options);
  enc.word_ids.clear();
  return enc;
}

Encoding Tokenizer::encode_words(const std::vector<std::string>& words, const EncodeOptions& options) const {
  std::vector<Piece> a;
  std::vector<int> word_of;
  for (std::size_t w = 0; w < words.size(); ++w) {
    for (Piece& p : tokenize_with_offsets(words[w])) {
      a.push_back(std::move(p));
      word_of.push_back(static_cast<int>(w));
    }
  }
  truncate(a, nullptr, &word_of, options, options.add_special_tokens ? 2 : 0);
  if (options.add_special_tokens) {
    require_special(cls_id(), special_.cls, "classification token");
    require_special(sep_id(), special_.sep, "separator token");
  }
  Encoding enc;
  if (options.add_special_tokens) push(enc, special_.cls, cls_id(), 0, 1, {0, 0}, -1, -1);
  for (std::size_t i = 0; i < a.size(); ++i) push(enc, a[i].token, a[i].id, 0, 1, {a[i].begin, a[i].end}, 0, word_of[i]);
  if (options.add_special_tokens) push(enc, special_.sep, sep_id(), 0, 1, {0, 0}, -1, -1);
  finish(*this, enc, options);
  return enc;
}

namespace {

// Code point index at every byte position of `text` (size + 1 entries; a position inside a
// multi-byte character maps to that character's index).
std::vector<std::int64_t> code_point_index(const std::string& text) {
  std::vector<std::int64_t> index(text.size() + 1, 0);
  const unicode::Chars chars = unicode::decode_utf8(text);
  for (std::size_t k = 0; k < chars.size(); ++k) {
    for (std::uint32_t b = chars[k].begin; b < chars[k].end; ++b) index[b] = static_cast<std::int64_t>(k);
  }
  index[text.size()] = static_cast<std::int64_t>(chars.size());
  return index;
}

}  // namespace

std::vector<std::pair<std::int64_t, std::int64_t>> code_point_offsets(const Encoding& encoding, const std::string& text,
                                                                       const std::string* pair) {
  const std::vector<std::int64_t> first = code_point_index(text);
  const std::vector<std::int64_t> second = pair ? code_point_index(*pair) : std::vector<std::int64_t>{0};
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  out.reserve(encoding.offsets.size());
  for (std::size_t i = 0; i < encoding.offsets.size(); ++i) {
    const int seq = i < encoding.sequence_ids.size() ? encoding.sequence_ids[i] : -1;
    if (seq < 0) {
      out.emplace_back(0, 0);
      continue;
    }
    const std::vector<std::int64_t>& index = seq == 0 ? first : second;
    auto at = [&](std::int64_t b) { return index[static_cast<std::size_t>(std::clamp<std::int64_t>(b, 0, index.size() - 1))]; };
    const auto [b, e] = encoding.offsets[i];
    // The end maps to the index just past the last character the token touches.
    out.emplace_back(at(b), e > b ? at(e - 1) + 1 : at(b));
  }
  return out;
}

TokenizerConfig read_tokenizer_config(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  LTH_CHECK(j.is_object(), ConfigError, "{}: expected a JSON object", path);
  TokenizerConfig c;
  auto get_bool = [&](const char* key, bool& out) {
    if (!j.contains(key) || j[key].is_null()) return false;
    LTH_CHECK(j[key].is_boolean(), ConfigError, "{}: '{}' must be true or false", path, key);
    out = j[key].get<bool>();
    return true;
  };
  c.do_lower_case_set = get_bool("do_lower_case", c.do_lower_case);
  bool strip = false;
  if (get_bool("strip_accents", strip)) c.strip_accents = strip ? 1 : 0;
  get_bool("tokenize_chinese_chars", c.tokenize_chinese_chars);
  if (j.contains("model_max_length") && !j["model_max_length"].is_null()) {
    const auto& v = j["model_max_length"];
    LTH_CHECK(v.is_number(), ConfigError, "{}: 'model_max_length' must be a number", path);
    // transformers writes a huge sentinel (1e30) when the length is unknown.
    const double d = v.get<double>();
    c.model_max_length = (d > 0 && d < 1e15) ? static_cast<std::int64_t>(d) : 0;
  }
  auto get_token = [&](const char* key, std::string& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    const auto& v = j[key];
    if (v.is_string()) {
      out = v.get<std::string>();
    } else if (v.is_object() && v.contains("content") && v["content"].is_string()) {  // AddedToken form
      out = v["content"].get<std::string>();
    } else {
      LTH_FAIL(ConfigError, "{}: '{}' must be a string or an object with 'content'", path, key);
    }
  };
  get_token("unk_token", c.special.unk);
  get_token("sep_token", c.special.sep);
  get_token("pad_token", c.special.pad);
  get_token("cls_token", c.special.cls);
  get_token("mask_token", c.special.mask);
  return c;
}

std::unique_ptr<Tokenizer> load_wordpiece(const std::string& vocab_file, const TokenizerConfig& config) {
  return std::make_unique<WordPieceTokenizer>(read_vocab_file(vocab_file), config, vocab_file);
}

std::unique_ptr<Tokenizer> load_wordpiece(const std::string& vocab_file, bool lowercase) {
  TokenizerConfig config;
  config.do_lower_case = lowercase;
  config.do_lower_case_set = true;
  return load_wordpiece(vocab_file, config);
}

namespace {

// A tokenizer with more ids than the model's embedding rows would make the model index past its
// embedding table ("index out of range in self" deep inside LibTorch): refused when loaded.
std::unique_ptr<Tokenizer> check_model_vocab_size(std::unique_ptr<Tokenizer> tok, const fs::path& dir,
                                                  const fs::path& tokenizer_file) {
  std::error_code ec;
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path, ec)) return tok;
  const nlohmann::json config = read_json_file(config_path.string());
  auto it = config.is_object() ? config.find("vocab_size") : config.end();
  if (it == config.end() || !it->is_number_integer()) return tok;  // the model loader reports it
  const std::int64_t model_vocab = it->get<std::int64_t>();
  LTH_CHECK(tok->vocab_size() <= model_vocab, ConfigError,
            "{} has {} tokens but {} says vocab_size {}: token ids would index past the model's embeddings",
            tokenizer_file.string(), tok->vocab_size(), config_path.string(), model_vocab);
  return tok;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir) {
  std::error_code ec;
  LTH_CHECK(fs::is_directory(model_dir, ec), IoError, "{}: not a directory", model_dir);
  const fs::path dir(model_dir);
  const fs::path config_path = dir / "tokenizer_config.json";
  const bool has_config = fs::exists(config_path, ec);
  TokenizerConfig config = has_config ? read_tokenizer_config(config_path.string()) : TokenizerConfig{};
  const fs::path vocab = dir / "vocab.txt";
  if (fs::exists(vocab, ec)) return check_model_vocab_size(load_wordpiece(vocab.string(), config), dir, vocab);
  fs::path model;
  for (const char* name : {"spiece.model", "sentencepiece.bpe.model", "tokenizer.model"}) {
    if (fs::exists(dir / name, ec)) {
      model = dir / name;
      break;
    }
  }
  if (model.empty()) {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".model") found.push_back(e.path());
    }
    LTH_CHECK(found.size() <= 1, ConfigError, "{}: several *.model files; name one of them spiece.model", model_dir);
    if (found.size() == 1) model = found.front();
  }
  LTH_CHECK(!model.empty(), IoError, "{}: no tokenizer (neither vocab.txt nor a *.model file)", model_dir);
  return check_model_vocab_size(load_sentencepiece(model.string(), config), dir, model);
}

}  // namespace lth::tokenize
