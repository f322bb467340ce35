// Tokenizers for BERT-style models: WordPiece with the semantics of transformers' slow
// BertTokenizer (v4.31) and SentencePiece (.model files), behind one interface that also encodes
// `[CLS] a [SEP] (b [SEP])` with truncation, padding and offsets back into the original text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lth::tokenize {

// One token of a text and the byte range [begin, end) of the original (UTF-8) text it covers.
struct Piece {
  std::string token;
  std::int64_t id = 0;
  std::int64_t begin = 0;
  std::int64_t end = 0;
};

struct EncodeOptions {
  int max_length = 0;              // 0 = no truncation (and no padding)
  bool pad_to_max_length = false;  // pad with [PAD] up to max_length
  bool add_special_tokens = true;  // [CLS] a [SEP] (b [SEP])
};

struct Encoding {
  std::vector<std::string> tokens;
  std::vector<std::int64_t> input_ids, token_type_ids, attention_mask;
  // Byte offsets into the original text of the segment the token came from; specials/padding [0, 0].
  std::vector<std::pair<std::int64_t, std::int64_t>> offsets;
  std::vector<int> sequence_ids;  // -1 special or padding, 0 first segment, 1 second segment
  std::vector<int> word_ids;      // encode_words only: index of the word, -1 special or padding

  std::size_t size() const { return input_ids.size(); }
};

// Special tokens: the strings (from tokenizer_config.json or defaults) and their ids in the vocabulary.
struct SpecialTokens {
  std::string unk = "[UNK]", sep = "[SEP]", pad = "[PAD]", cls = "[CLS]", mask = "[MASK]";
  std::int64_t unk_id = -1, sep_id = -1, pad_id = -1, cls_id = -1, mask_id = -1;  // -1 = absent
};

class Tokenizer {
 public:
  virtual ~Tokenizer();

  // Tokens of `text` with byte offsets into it (no special tokens added; special tokens written in
  // the text are recognised).
  virtual std::vector<Piece> tokenize_with_offsets(const std::string& text) const = 0;
  std::vector<std::string> tokenize(const std::string& text) const;

  // Encodes one text or a pair. Truncation is transformers' "longest_first".
  Encoding encode(const std::string& text, const std::string* pair = nullptr, const EncodeOptions& options = {}) const;
  // Encodes pre-split words (e.g. CoNLL tokens): each word is tokenized on its own; `word_ids` maps
  // every token to its word, offsets are into the word. Truncation drops tokens from the end.
  Encoding encode_words(const std::vector<std::string>& words, const EncodeOptions& options = {}) const;

  // Id of a token; unk_id() when the vocabulary does not have it (as convert_tokens_to_ids).
  std::int64_t token_to_id(const std::string& token) const;
  // Id of a token, or -1.
  virtual std::int64_t find_id(const std::string& token) const = 0;
  // Throws ConfigError for an id outside [0, vocab_size()).
  virtual std::string id_to_token(std::int64_t id) const = 0;
  virtual std::int64_t vocab_size() const = 0;
  virtual std::string kind() const = 0;  // "wordpiece" or "sentencepiece"

  const SpecialTokens& special_tokens() const { return special_; }
  std::int64_t pad_id() const { return special_.pad_id; }
  std::int64_t unk_id() const { return special_.unk_id; }
  std::int64_t cls_id() const { return special_.cls_id; }
  std::int64_t sep_id() const { return special_.sep_id; }
  std::int64_t mask_id() const { return special_.mask_id; }
  // model_max_length from tokenizer_config.json (0 when unknown).
  std::int64_t model_max_length() const { return model_max_length_; }
  void set_model_max_length(std::int64_t n) { model_max_length_ = n; }

 protected:
  SpecialTokens special_;
  std::int64_t model_max_length_ = 0;
};

// The offsets of `encoding` in code points instead of bytes (as Hugging Face reports them): each
// token's offsets are converted within the text of its own segment (`text`, or `pair` for sequence
// 1). Specials and padding stay [0, 0].
std::vector<std::pair<std::int64_t, std::int64_t>> code_point_offsets(const Encoding& encoding, const std::string& text,
                                                                       const std::string* pair = nullptr);

// Settings read from tokenizer_config.json (all optional).
struct TokenizerConfig {
  bool do_lower_case = true;
  bool do_lower_case_set = false;  // the file had the key (SentencePiece defaults to false otherwise)
  int strip_accents = -1;  // -1 = null (follow do_lower_case), 0 = false, 1 = true
  bool tokenize_chinese_chars = true;
  std::int64_t model_max_length = 0;
  SpecialTokens special;  // only the strings are read
};
// Reads `path` (a tokenizer_config.json); throws IoError/ConfigError naming the file.
TokenizerConfig read_tokenizer_config(const std::string& path);

// A model directory with vocab.txt (WordPiece) or a *.model file (SentencePiece; spiece.model and
// sentencepiece.bpe.model are tried first), plus an optional tokenizer_config.json.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_dir);
// WordPiece from a vocab.txt; special tokens are the BERT defaults.
std::unique_ptr<Tokenizer> load_wordpiece(const std::string& vocab_file, bool lowercase);
std::unique_ptr<Tokenizer> load_wordpiece(const std::string& vocab_file, const TokenizerConfig& config);
// SentencePiece from a .model file (through the lth_spm shim, see sentencepiece.h).
std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& model_file, const TokenizerConfig& config);

}  // namespace lth::tokenize
