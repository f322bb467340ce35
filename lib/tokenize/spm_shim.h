// The C interface of the lth_spm module: a thin wrapper around libsentencepiece, built as a separate
// shared module and dlopen'ed (RTLD_LOCAL | RTLD_DEEPBIND) by lth_tokenize, because
// libsentencepiece's bundled protobuf-lite clashes with LibTorch's libprotobuf in one link map.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

#define LTH_SPM_ABI_VERSION 1

typedef struct lth_spm lth_spm;
// Called once per piece: the piece string, its id and the byte range of the input it covers.
typedef void (*lth_spm_piece_fn)(void* user, const char* piece, std::size_t piece_len, int id, std::uint32_t begin,
                                 std::uint32_t end);

int lth_spm_abi_version(void);
// Loads a .model file. On failure returns NULL and sets *error to a message (free with lth_spm_free_string).
lth_spm* lth_spm_load(const char* path, char** error);
void lth_spm_free(lth_spm* spm);
void lth_spm_free_string(char* s);
int lth_spm_vocab_size(const lth_spm* spm);
// Id of a piece, or -1 when the model does not have it.
int lth_spm_find_id(const lth_spm* spm, const char* piece, std::size_t len);
// The piece of an id (valid while the handle lives), or NULL when out of range.
const char* lth_spm_id_to_piece(const lth_spm* spm, int id, std::size_t* len);
int lth_spm_unk_id(const lth_spm* spm);
int lth_spm_pad_id(const lth_spm* spm);  // -1 when the model has none
// Encodes `text`; returns 0, or -1 with *error set.
int lth_spm_encode(const lth_spm* spm, const char* text, std::size_t len, lth_spm_piece_fn fn, void* user, char** error);

}  // extern "C"
