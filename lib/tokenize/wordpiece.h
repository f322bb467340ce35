// WordPiece with the semantics of transformers' slow BertTokenizer (v4.31) as loaded by
// from_pretrained: special tokens are recognised anywhere in the raw text, the rest goes through
// BasicTokenizer (clean, CJK split, NFC, whitespace split, lower-case + accent strip, punctuation
// split) and greedy longest-match-first WordPiece.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "tokenize/tokenizer.h"
#include "tokenize/unicode.h"

namespace lth::tokenize {

class WordPieceTokenizer : public Tokenizer {
 public:
  static constexpr int kMaxInputCharsPerWord = 100;

  // `vocab[i]` is the token with id i; `source` names the vocabulary file in error messages.
  // Throws ConfigError for an empty vocabulary, duplicate tokens or an absent special token.
  WordPieceTokenizer(std::vector<std::string> vocab, const TokenizerConfig& config, const std::string& source);

  std::vector<Piece> tokenize_with_offsets(const std::string& text) const override;
  // The pre-WordPiece words (BasicTokenizer.tokenize), with byte offsets; ids are -1. Special
  // tokens written in the text come out whole.
  std::vector<Piece> basic_tokenize(const std::string& text) const;

  std::int64_t find_id(const std::string& token) const override;
  std::string id_to_token(std::int64_t id) const override;
  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(vocab_.size()); }
  std::string kind() const override { return "wordpiece"; }
  bool lowercase() const { return lower_; }

 private:
  // Splits `text` into runs of plain text and special tokens (longest match at the leftmost position).
  struct Segment {
    std::size_t begin, end;
    bool special;
  };
  std::vector<Segment> split_special(const std::string& text) const;
  // BasicTokenizer on one plain segment; words carry their original byte ranges.
  std::vector<unicode::Chars> basic_words(const std::string& text, const Segment& segment) const;
  void wordpiece(const unicode::Chars& word, std::vector<Piece>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, std::int64_t> ids_;
  std::vector<std::string> never_split_;
  bool lower_ = true;
  bool strip_accents_ = true;
  bool chinese_ = true;
};

// Reads a vocab.txt (one token per line, id = line index; only "\n" is stripped, as transformers does).
std::vector<std::string> read_vocab_file(const std::string& path);

}  // namespace lth::tokenize
