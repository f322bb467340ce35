// lth_spm: see spm_shim.h. This file is the only one that includes sentencepiece headers.
#include "tokenize/spm_shim.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <sentencepiece_processor.h>

struct lth_spm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int lth_spm_abi_version(void) { return LTH_SPM_ABI_VERSION; }

__attribute__((visibility("default"))) lth_spm* lth_spm_load(const char* path, char** error) {
  try {
    auto* spm = new lth_spm;
    const auto status = spm->processor.Load(path);
    if (!status.ok()) {
      if (error) *error = copy_string(status.ToString());
      delete spm;
      return nullptr;
    }
    return spm;
  } catch (const std::exception& e) {
    if (error) *error = copy_string(e.what());
    return nullptr;
  }
}

__attribute__((visibility("default"))) void lth_spm_free(lth_spm* spm) { delete spm; }

__attribute__((visibility("default"))) void lth_spm_free_string(char* s) { std::free(s); }

__attribute__((visibility("default"))) int lth_spm_vocab_size(const lth_spm* spm) { return spm->processor.GetPieceSize(); }

__attribute__((visibility("default"))) int lth_spm_find_id(const lth_spm* spm, const char* piece, std::size_t len) {
  const absl::string_view p(piece, len);
  const int id = spm->processor.PieceToId(p);
  if (id == spm->processor.unk_id() && spm->processor.IdToPiece(id) != std::string(piece, len)) return -1;
  return id;
}

__attribute__((visibility("default"))) const char* lth_spm_id_to_piece(const lth_spm* spm, int id, std::size_t* len) {
  if (id < 0 || id >= spm->processor.GetPieceSize()) return nullptr;
  const std::string& p = spm->processor.IdToPiece(id);
  if (len) *len = p.size();
  return p.c_str();
}

__attribute__((visibility("default"))) int lth_spm_unk_id(const lth_spm* spm) { return spm->processor.unk_id(); }

__attribute__((visibility("default"))) int lth_spm_pad_id(const lth_spm* spm) { return spm->processor.pad_id(); }

__attribute__((visibility("default"))) int lth_spm_encode(const lth_spm* spm, const char* text, std::size_t len,
                                                          lth_spm_piece_fn fn, void* user, char** error) {
  try {
    const auto spt = spm->processor.EncodeAsImmutableProto(absl::string_view(text, len));
    for (const auto& piece : spt.pieces()) {
      fn(user, piece.piece().data(), piece.piece().size(), static_cast<int>(piece.id()), piece.begin(), piece.end());
    }
    return 0;
  } catch (const std::exception& e) {
    if (error) *error = copy_string(e.what());
    return -1;
  }
}

}  // extern "C"
