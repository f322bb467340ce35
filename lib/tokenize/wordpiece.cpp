#include "tokenize/wordpiece.h"

#include <algorithm>

#include "core/error.h"
#include "core/file.h"

namespace lth::tokenize {

using unicode::Char;
using unicode::Chars;

std::vector<std::string> read_vocab_file(const std::string& path) {
  const std::string data = read_file(path);
  std::vector<std::string> vocab;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) nl = data.size();
    vocab.emplace_back(data, pos, nl - pos);
    pos = nl + 1;
  }
  LTH_CHECK(!vocab.empty(), IoError, "{}: empty vocabulary", path);
  return vocab;
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, const TokenizerConfig& config,
                                       const std::string& source)
    : vocab_(std::move(vocab)),
      lower_(config.do_lower_case),
      strip_accents_(config.strip_accents < 0 ? config.do_lower_case : config.strip_accents == 1),
      chinese_(config.tokenize_chinese_chars) {
  LTH_CHECK(!vocab_.empty(), ConfigError, "{}: empty vocabulary", source);
  ids_.reserve(vocab_.size() * 2);
  for (std::size_t i = 0; i < vocab_.size(); ++i) {
    auto [it, inserted] = ids_.emplace(vocab_[i], static_cast<std::int64_t>(i));
    LTH_CHECK(inserted, ConfigError, "{}: line {}: duplicate token '{}' (first on line {})", source, i + 1, clip(vocab_[i]),
              it->second + 1);
  }
  special_ = config.special;
  struct Slot {
    const std::string& name;
    std::int64_t& id;
    const char* what;
  };
  for (const Slot& s : {Slot{special_.unk, special_.unk_id, "unk_token"}, Slot{special_.sep, special_.sep_id, "sep_token"},
                        Slot{special_.pad, special_.pad_id, "pad_token"}, Slot{special_.cls, special_.cls_id, "cls_token"},
                        Slot{special_.mask, special_.mask_id, "mask_token"}}) {
    LTH_CHECK(!s.name.empty(), ConfigError, "{}: {} is empty", source, s.what);
    s.id = find_id(s.name);
    LTH_CHECK(s.id >= 0, ConfigError, "{}: special token {} '{}' is not in the vocabulary", source, s.what,
              clip(s.name));
    never_split_.push_back(s.name);
  }
  model_max_length_ = config.model_max_length;
}

std::int64_t WordPieceTokenizer::find_id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::string WordPieceTokenizer::id_to_token(std::int64_t id) const {
  LTH_CHECK(id >= 0 && id < vocab_size(), ConfigError, "token id {} outside the vocabulary (size {})", id, vocab_size());
  return vocab_[static_cast<std::size_t>(id)];
}

std::vector<WordPieceTokenizer::Segment> WordPieceTokenizer::split_special(const std::string& text) const {
  std::vector<Segment> out;
  std::size_t plain = 0, i = 0;
  while (i < text.size()) {
    std::size_t best = 0;
    for (const std::string& s : never_split_) {
      if (s.size() > best && text.compare(i, s.size(), s) == 0) best = s.size();
    }
    if (best == 0) {
      ++i;
      continue;
    }
    if (i > plain) out.push_back({plain, i, false});
    out.push_back({i, i + best, true});
    i += best;
    plain = i;
  }
  if (plain < text.size()) out.push_back({plain, text.size(), false});
  return out;
}

std::vector<Chars> WordPieceTokenizer::basic_words(const std::string& text, const Segment& segment) const {
  Chars chars = unicode::decode_utf8(std::string_view(text).substr(segment.begin, segment.end - segment.begin),
                                     static_cast<std::uint32_t>(segment.begin));
  // transformers lower-cases the raw text (outside special tokens) one character at a time first.
  if (lower_) chars = unicode::to_lower(chars);
  // _clean_text and _tokenize_chinese_chars.
  Chars cleaned;
  cleaned.reserve(chars.size());
  for (const Char& c : chars) {
    if (c.cp == 0 || c.cp == 0xFFFD || unicode::is_bert_control(c.cp)) continue;
    if (unicode::is_bert_whitespace(c.cp)) {
      cleaned.push_back({U' ', c.begin, c.end});
    } else if (chinese_ && unicode::is_cjk_ideograph(c.cp)) {
      cleaned.push_back({U' ', c.begin, c.begin});
      cleaned.push_back(c);
      cleaned.push_back({U' ', c.end, c.end});
    } else {
      cleaned.push_back(c);
    }
  }
  cleaned = unicode::nfc(cleaned);
  // whitespace_tokenize (str.split()), then per word: lower-case, strip accents, split punctuation.
  std::vector<Chars> words;
  std::size_t i = 0;
  while (i < cleaned.size()) {
    if (unicode::is_python_space(cleaned[i].cp)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < cleaned.size() && !unicode::is_python_space(cleaned[j].cp)) ++j;
    Chars word(cleaned.begin() + i, cleaned.begin() + j);
    i = j;
    if (lower_) word = unicode::to_lower(word);
    if (strip_accents_) {
      Chars decomposed = unicode::nfd(word);
      word.clear();
      for (const Char& c : decomposed) {
        if (!unicode::is_mn(c.cp)) word.push_back(c);
      }
    }
    Chars run;
    for (const Char& c : word) {
      if (unicode::is_bert_punctuation(c.cp)) {
        if (!run.empty()) words.push_back(std::move(run));
        run.clear();
        words.push_back(Chars{c});
      } else {
        run.push_back(c);
      }
    }
    if (!run.empty()) words.push_back(std::move(run));
  }
  return words;
}

namespace {

Piece make_piece(std::string token, std::int64_t id, const Chars& chars, std::size_t from, std::size_t to) {
  Piece p{std::move(token), id, 0, 0};
  if (from < to) {
    std::uint32_t b = chars[from].begin, e = chars[from].end;
    for (std::size_t k = from + 1; k < to; ++k) {
      b = std::min(b, chars[k].begin);
      e = std::max(e, chars[k].end);
    }
    p.begin = b;
    p.end = e;
  }
  return p;
}

}  // namespace

void WordPieceTokenizer::wordpiece(const Chars& word, std::vector<Piece>& out) const {
  if (word.size() > static_cast<std::size_t>(kMaxInputCharsPerWord)) {
    out.push_back(make_piece(special_.unk, special_.unk_id, word, 0, word.size()));
    return;
  }
  // Byte position of every character in the UTF-8 form of the word.
  std::string utf8;
  std::vector<std::size_t> pos;
  pos.reserve(word.size() + 1);
  for (const Char& c : word) {
    pos.push_back(utf8.size());
    unicode::append_utf8(utf8, c.cp);
  }
  pos.push_back(utf8.size());
  const std::size_t first = out.size();
  std::size_t start = 0;
  std::string candidate;
  while (start < word.size()) {
    std::size_t end = word.size();
    std::int64_t found = -1;
    while (start < end) {
      candidate.clear();
      if (start > 0) candidate = "##";
      candidate.append(utf8, pos[start], pos[end] - pos[start]);
      found = find_id(candidate);
      if (found >= 0) break;
      --end;
    }
    if (found < 0) {
      out.resize(first);
      out.push_back(make_piece(special_.unk, special_.unk_id, word, 0, word.size()));
      return;
    }
    out.push_back(make_piece(candidate, found, word, start, end));
    start = end;
  }
}

std::vector<Piece> WordPieceTokenizer::tokenize_with_offsets(const std::string& text) const {
  std::vector<Piece> out;
  for (const Segment& seg : split_special(text)) {
    if (seg.special) {
      std::string token = text.substr(seg.begin, seg.end - seg.begin);
      const std::int64_t id = find_id(token);
      out.push_back({std::move(token), id, static_cast<std::int64_t>(seg.begin), static_cast<std::int64_t>(seg.end)});
      continue;
    }
    for (const Chars& word : basic_words(text, seg)) wordpiece(word, out);
  }
  return out;
}

std::vector<Piece> WordPieceTokenizer::basic_tokenize(const std::string& text) const {
  std::vector<Piece> out;
  for (const Segment& seg : split_special(text)) {
    if (seg.special) {
      out.push_back({text.substr(seg.begin, seg.end - seg.begin), -1, static_cast<std::int64_t>(seg.begin),
                     static_cast<std::int64_t>(seg.end)});
      continue;
    }
    for (const Chars& word : basic_words(text, seg)) {
      out.push_back(make_piece(unicode::encode_utf8(word), -1, word, 0, word.size()));
    }
  }
  return out;
}

}  // namespace lth::tokenize
