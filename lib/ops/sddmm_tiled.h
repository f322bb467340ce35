// The sampled dense-dense product (SDDMM) of sparse training, written once over a vector-traits type V
// (the one of spmm_tiled.h plus `hsum`) and included by each per-ISA translation unit.
//
// out[k] = dot(a[row(k)], b[col(k)]) over the tokens, for the kept positions of a CSR pattern. Both
// operands come in token blocks (SddmmArgs), so a dot product is a run of full-width loads and one
// block of b is one contiguous slab: laid out row after row at the full token stride instead, the
// columns' slices sat 4 KiB apart in the same cache sets and the weight gradient took 2-3x as long.
// Schedule: for one row, a slice of 8 vectors of a[row] is held in registers and every kept column
// streams its slice of b past it (one load per FMA); a variant with one horizontal sum per block
// (both slices loaded per FMA) was measured no faster. Threads own blocks of rows and walk the token
// blocks outermost, so a block of b is reused by every row of the row block while it is in cache.
// Internal linkage only (see spmm_tiled.h).
#pragma once

#include <cstdint>

#include <omp.h>

#include "ops/sparse_kernels.h"
#include "ops/spmm_tiled.h"

namespace lth::ops::detail {
namespace {

template <class V>
void sddmm_tiled(const SddmmArgs& s) {
  constexpr int W = V::kWidth;
  constexpr int64_t B = kSddmmChunk;
  constexpr int NV = static_cast<int>(B / W) < 8 ? static_cast<int>(B / W) : 8;
  constexpr int64_t kSub = NV * W;  // tokens whose slice of a[row] sits in registers
  static_assert(B % kSub == 0, "a token block holds whole register slices");
  using Reg = typename V::Reg;
  constexpr int32_t kAhead = 4;
  const CsrView& p = s.pattern;
  const int64_t nnz = p.rows > 0 ? p.row_ptr[p.rows] : 0;
  for (int64_t k = 0; k < nnz; ++k) s.out[k] = 0.0f;
  if (nnz == 0 || s.tokens <= 0) return;
  const int64_t n_token_blocks = (s.tokens + B - 1) / B;
  constexpr int64_t kRowBlock = 32;
  const int64_t row_blocks = (p.rows + kRowBlock - 1) / kRowBlock;
  const int threads = s.threads > 0 ? s.threads : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t rb = 0; rb < row_blocks; ++rb) {
    const int64_t r0 = rb * kRowBlock;
    const int64_t r1 = r0 + kRowBlock < p.rows ? r0 + kRowBlock : p.rows;
    for (int64_t tb = 0; tb < n_token_blocks; ++tb) {
      const float* a_blk = s.a + tb * p.rows * B;
      const float* b_blk = s.b + tb * p.cols * B;
      const int64_t left = s.tokens - tb * B;  // slices past the last token are all zero: skipped
      for (int64_t r = r0; r < r1; ++r) {
        const int32_t beg = p.row_ptr[r], end = p.row_ptr[r + 1];
        if (beg == end) continue;
        for (int64_t sub = 0; sub < B && sub < left; sub += kSub) {
          Reg ar[NV];
          const float* ap = a_blk + r * B + sub;
          for (int v = 0; v < NV; ++v) ar[v] = V::load(ap + v * W);
          for (int32_t k = beg; k < end; ++k) {
            const float* bp = b_blk + static_cast<int64_t>(p.col_idx[k]) * B + sub;
            if (k + kAhead < end) {  // the columns are random: fetch a later one's slice meanwhile
              const float* next = b_blk + static_cast<int64_t>(p.col_idx[k + kAhead]) * B + sub;
              for (int64_t line = 0; line < kSub; line += 16) __builtin_prefetch(next + line);
            }
            Reg acc0 = V::zero(), acc1 = V::zero();
            for (int v = 0; v < NV; v += 2) {
              acc0 = V::fma(ar[v], V::load(bp + v * W), acc0);
              acc1 = V::fma(ar[v + 1], V::load(bp + (v + 1) * W), acc1);
            }
            s.out[k] += V::hsum(V::add(acc0, acc1));
          }
        }
      }
    }
  }
}

// The operands' layout, with spmm's panel packing (register transposes) per token block x 64 columns.
template <class V>
void token_blocks_tiled(const float* src, int64_t tokens, int64_t n, float* dst, int threads) {
  constexpr int64_t B = kSddmmChunk;
  constexpr int64_t kCols = 64;
  const int64_t blocks = (tokens + B - 1) / B;
  const int64_t groups = (n + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) collapse(2) num_threads(threads > 0 ? threads : 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t t0 = blk * B;
      const int64_t c0 = g * kCols;
      pack_panel<V>(src + t0 * n, n, min_i64(B, tokens - t0), B, c0, min_i64(n, c0 + kCols), dst + blk * n * B);
    }
  }
}

}  // namespace
}  // namespace lth::ops::detail
