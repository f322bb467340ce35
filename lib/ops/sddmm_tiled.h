// The sampled dense-dense product (SDDMM) of sparse training, written once over a vector-traits type V
// (the one of spmm_tiled.h plus `hsum`) and included by each per-ISA translation unit.
//
// out[k] = dot(a[row(k)], b[col(k)]) over the tokens, for the kept positions of a CSR pattern. Both
// operands come transposed (tokens contiguous, zero-padded to a multiple of kSddmmChunk), so a dot
// product is a run of full-width loads. Schedule: tokens in chunks of 8 vectors; for one row the chunk
// of a[row] is held in 8 registers and every kept column streams its chunk of b past it (one load per
// FMA). Threads own blocks of rows and walk the chunks outermost, so a chunk of b (cols x 8 vectors)
// is reused by every row of the block while it sits in L2. Internal linkage only (see spmm_tiled.h).
#pragma once

#include <cstdint>

#include <omp.h>

#include "ops/sparse_kernels.h"

namespace lth::ops::detail {
namespace {

template <class V>
void sddmm_tiled(const SddmmArgs& s) {
  constexpr int W = V::kWidth;
  constexpr int NV = 8;
  constexpr int64_t kChunk = NV * W;
  static_assert(kSddmmChunk % kChunk == 0, "the padding must cover whole chunks");
  using Reg = typename V::Reg;
  const CsrView& p = s.pattern;
  const int64_t nnz = p.rows > 0 ? p.row_ptr[p.rows] : 0;
  for (int64_t k = 0; k < nnz; ++k) s.out[k] = 0.0f;
  if (nnz == 0 || s.tokens <= 0) return;
  const int64_t chunks = (s.tokens + kChunk - 1) / kChunk;
  constexpr int64_t kRowBlock = 32;
  const int64_t blocks = (p.rows + kRowBlock - 1) / kRowBlock;
  const int threads = s.threads > 0 ? s.threads : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t r0 = blk * kRowBlock;
    const int64_t r1 = r0 + kRowBlock < p.rows ? r0 + kRowBlock : p.rows;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t t0 = c * kChunk;
      for (int64_t r = r0; r < r1; ++r) {
        const int32_t beg = p.row_ptr[r], end = p.row_ptr[r + 1];
        if (beg == end) continue;
        Reg ar[NV];
        const float* ap = s.a + r * s.stride + t0;
        for (int v = 0; v < NV; ++v) ar[v] = V::load(ap + v * W);
        for (int32_t k = beg; k < end; ++k) {
          const float* bp = s.b + static_cast<int64_t>(p.col_idx[k]) * s.stride + t0;
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

}  // namespace
}  // namespace lth::ops::detail
