// SentencePiece (.model) tokenizer. libsentencepiece is never linked into lth_tokenize: it lives in
// the lth_spm shim module, which is dlopen'ed on first use. The shim is found through, in order:
// $LTH_SPM_SHIM, the directory of /proc/self/exe and up to 3 of its parents, and the build tree
// path compiled in. A missing or broken shim is an IoError.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenize/tokenizer.h"

namespace lth::tokenize {

struct SpmModule;  // the dlopen'ed shim's entry points
struct SpmHandle;  // one loaded model

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Throws IoError when the shim or the model cannot be loaded.
  SentencePieceTokenizer(const std::string& model_file, const TokenizerConfig& config);
  ~SentencePieceTokenizer() override;

  std::vector<Piece> tokenize_with_offsets(const std::string& text) const override;
  std::int64_t find_id(const std::string& token) const override;
  std::string id_to_token(std::int64_t id) const override;
  std::int64_t vocab_size() const override { return vocab_size_; }
  std::string kind() const override { return "sentencepiece"; }

 private:
  void encode_plain(const std::string& text, std::size_t begin, std::size_t end, std::vector<Piece>& out) const;

  const SpmModule* module_ = nullptr;
  std::unique_ptr<SpmHandle> handle_;
  std::string source_;
  std::int64_t vocab_size_ = 0;
  bool lower_ = false;
};

// Path of the shim module that would be loaded (for diagnostics); empty when none is found.
std::string find_spm_shim();

}  // namespace lth::tokenize
