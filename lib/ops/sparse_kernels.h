// Internal, torch-free interface between the dispatcher and the per-ISA kernels. Only lib/ops uses it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/isa.h"

namespace lth::ops::detail {

// A CSR matrix W [rows = out, cols = in]: row r holds col_idx/values[row_ptr[r] .. row_ptr[r+1]).
struct CsrView {
  int64_t rows = 0;
  int64_t cols = 0;
  const int32_t* row_ptr = nullptr;
  const int32_t* col_idx = nullptr;
  const float* values = nullptr;
};

// Y[tokens, rows] = X[tokens, cols] * W^T + bias. x and y row-major and contiguous; bias may be null.
struct SpmmArgs {
  CsrView w;
  const float* x = nullptr;
  int64_t tokens = 0;
  const float* bias = nullptr;
  float* y = nullptr;
  int threads = 1;
};

// out[k] = sum_t a[row(k)][t] * b[col(k)][t] for every kept position k of a CSR pattern (its values are
// not read): the sampled dense-dense product that gives a masked Linear's weight gradient
// dW = dY^T X at the kept weights only. Both operands come in token blocks: a is
// [blocks][pattern rows][kSddmmChunk], b [blocks][pattern cols][kSddmmChunk], block t holding tokens
// t*kSddmmChunk .. +kSddmmChunk of each row contiguously (zero past `tokens`), so one block of b
// is a contiguous slab that stays in cache while every row of a visits it.
struct SddmmArgs {
  CsrView pattern;
  const float* a = nullptr;
  const float* b = nullptr;
  int64_t tokens = 0;
  float* out = nullptr;  // [nnz]
  int threads = 1;
};
inline constexpr int64_t kSddmmChunk = 128;

void spmm_reference(const SpmmArgs& a);
void spmm_portable(const SpmmArgs& a);
void spmm_avx2(const SpmmArgs& a);    // only call when isa_supported(kAvx2)
void spmm_avx512(const SpmmArgs& a);  // only call when isa_supported(kAvx512)
void sddmm_reference(const SddmmArgs& s);
void sddmm_portable(const SddmmArgs& s);
void sddmm_avx2(const SddmmArgs& s);    // only call when isa_supported(kAvx2)
void sddmm_avx512(const SddmmArgs& s);  // only call when isa_supported(kAvx512)
void token_blocks_portable(const float* src, int64_t tokens, int64_t n, float* dst, int threads);
void token_blocks_avx2(const float* src, int64_t tokens, int64_t n, float* dst, int threads);
void token_blocks_avx512(const float* src, int64_t tokens, int64_t n, float* dst, int threads);
// src [tokens, n] row-major -> dst [blocks][n][kSddmmChunk] (SddmmArgs' operand layout), zero past
// `tokens`; dst holds ceil(tokens / kSddmmChunk) * n * kSddmmChunk floats. Register transposes.
void token_blocks(SparseIsa isa, const float* src, int64_t tokens, int64_t n, float* dst, int threads);
// The kernel of path `isa` (the caller has checked isa_supported).
void spmm(SparseIsa isa, const SpmmArgs& a);
void sddmm(SparseIsa isa, const SddmmArgs& s);
// True when the build compiled that ISA's translation unit with its intrinsics (x86-64 + GCC/Clang).
bool avx2_compiled();
bool avx512_compiled();

// A 64-byte aligned per-thread buffer of at least `floats` floats, kept and grown across calls so the
// kernel does not allocate per call. Independent slots per thread: 0 panel and 1 output tile (spmm),
// 2 and 3 the SDDMM's token-block operands.
float* thread_scratch(int slot, std::size_t floats);

}  // namespace lth::ops::detail
