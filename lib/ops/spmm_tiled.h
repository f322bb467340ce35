// The tiled CSR x dense kernel, written once over a vector-traits type V and included by each per-ISA
// translation unit (sparse_kernel_{portable,avx2,avx512}.cpp), each compiled with its own -m flags.
//
// Layout and schedule (why: W is unstructured, so the only dimension with contiguous reuse is tokens):
//   * X [tokens, in] is cut into token tiles of TT = NV * V::kWidth tokens (32 on every path: 64 and
//     128 were measured 5-25% slower at BERT shapes on Zen 5, the bigger panel costing more than the
//     per-weight overhead it amortises). A tile is transposed into a
//     column panel P [in][TT] (tokens contiguous, tail tokens zero), so for a kept weight (r, c, w) the
//     update Y^T[r, tile] += w * P[c, :] is NV full-width vector FMAs with a broadcast weight.
//   * Rows are processed in natural order in groups of V::kGroup; each group's Y^T block [group][TT] is
//     kept in a small buffer and written to Y [tokens, out] with register transposes (+ bias).
//   * Interleaved accumulator sets give 8 (or more) independent FMA chains per row.
//   * The panel is read from L2 (in = 3072: 768 KiB). Cutting it into L1-sized column blocks (128, 256,
//     512 columns, partial sums kept per block) was measured slower or equal at 90-95% sparsity on the
//     BERT shapes (Zen 5, 1 MiB L2), so there is none.
//   * OpenMP: with enough tiles, threads own whole token tiles (the panel stays in that core's L2 and
//     nothing is shared); with few tokens, all panels are built once and threads split row groups.
//
// Everything here has internal linkage (static, or templates over the TU-local V), so code compiled
// with -mavx512f never leaks into a symbol another TU might link to. Do not call header templates of
// the standard library from here for the same reason.
#pragma once

#include <cstdint>

#include <omp.h>

#include "ops/sparse_kernels.h"

namespace lth::ops::detail {
namespace {

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// P[c][j] = X[j][c] for j < tt, c in [c0, c1); P[c][j] = 0 for tt <= j < stride.
template <class V>
void pack_panel(const float* x, int64_t in, int64_t tt, int64_t stride, int64_t c0, int64_t c1, float* panel) {
  constexpr int W = V::kWidth;
  const int64_t tt_full = tt - tt % W;
  int64_t c = c0;
  for (; c + W <= c1; c += W) {
    for (int64_t j = 0; j < tt_full; j += W) V::transpose(x + j * in + c, in, panel + c * stride + j, stride, nullptr);
    for (int64_t k = c; k < c + W; ++k) {
      float* p = panel + k * stride;
      for (int64_t j = tt_full; j < tt; ++j) p[j] = x[j * in + k];
      for (int64_t j = tt; j < stride; ++j) p[j] = 0.0f;
    }
  }
  for (; c < c1; ++c) {
    float* p = panel + c * stride;
    for (int64_t j = 0; j < tt; ++j) p[j] = x[j * in + c];
    for (int64_t j = tt; j < stride; ++j) p[j] = 0.0f;
  }
}

// out[0 .. NV*W) = sum_k val[k] * panel[idx[k]][0 .. NV*W). U interleaved accumulator sets (kept
// weights k, k+1, .., k+U-1 go to different sets) give U*NV independent FMA chains to hide latency.
template <class V, int NV>
inline void row_times_panel(const int32_t* idx, const float* val, int32_t n, const float* panel, float* out) {
  constexpr int64_t TT = NV * V::kWidth;
  constexpr int U = 2;  // 4 was measured no faster
  using Reg = typename V::Reg;
  Reg acc[U][NV];
  for (int u = 0; u < U; ++u) {
    for (int v = 0; v < NV; ++v) acc[u][v] = V::zero();
  }
  int32_t k = 0;
  for (; k + U <= n; k += U) {
    for (int u = 0; u < U; ++u) {
      const float* p = panel + static_cast<int64_t>(idx[k + u]) * TT;
      const Reg w = V::set1(val[k + u]);
      for (int v = 0; v < NV; ++v) acc[u][v] = V::fma(w, V::load(p + v * V::kWidth), acc[u][v]);
    }
  }
  for (int u = 0; k < n; ++k, ++u) {
    const float* p = panel + static_cast<int64_t>(idx[k]) * TT;
    const Reg w = V::set1(val[k]);
    for (int v = 0; v < NV; ++v) acc[u][v] = V::fma(w, V::load(p + v * V::kWidth), acc[u][v]);
  }
  for (int v = 0; v < NV; ++v) {
    Reg sum = acc[0][v];
    for (int u = 1; u < U; ++u) sum = V::add(sum, acc[u][v]);
    V::store(out + v * V::kWidth, sum);
  }
}

// Rows [r0, r1) (r0 a multiple of kGroup) of one token tile (tokens [t0, t0 + tt), panel stride
// NV*W) into Y, through part [r1 - r0][NV*W].
template <class V, int NV>
void run_rows(const SpmmArgs& a, const float* panel, int64_t r0, int64_t r1, int64_t t0, int64_t tt, float* part) {
  constexpr int W = V::kWidth;
  constexpr int64_t TT = NV * W;
  const CsrView& w = a.w;
  for (int64_t r = r0; r < r1; ++r) {
    const int32_t beg = w.row_ptr[r];
    row_times_panel<V, NV>(w.col_idx + beg, w.values + beg, w.row_ptr[r + 1] - beg, panel, part + (r - r0) * TT);
  }
  const int64_t out = w.rows;
  for (int64_t g0 = r0; g0 < r1; g0 += V::kGroup) {
    const int64_t gn = min_i64(V::kGroup, r1 - g0);
    const float* ybuf = part + (g0 - r0) * TT;
    float* y = a.y + t0 * out + g0;
    const float* bias = a.bias ? a.bias + g0 : nullptr;
    int64_t j = 0;
    if (gn == V::kGroup) {
      for (; j + W <= tt; j += W) V::transpose(ybuf + j, TT, y + j * out, out, bias);
    }
    for (; j < tt; ++j) {
      for (int64_t g = 0; g < gn; ++g) y[j * out + g] = ybuf[g * TT + j] + (bias ? bias[g] : 0.0f);
    }
  }
}

template <class V>
void run_rows_nv(int nv, const SpmmArgs& a, const float* panel, int64_t r0, int64_t r1, int64_t t0, int64_t tt,
                 float* part) {
  static_assert(V::kMaxVecs == 2 || V::kMaxVecs == 4, "tile widths");
  if (nv == 1) {
    run_rows<V, 1>(a, panel, r0, r1, t0, tt, part);
  } else if (nv >= V::kMaxVecs) {
    run_rows<V, V::kMaxVecs>(a, panel, r0, r1, t0, tt, part);
  } else {
    run_rows<V, 2>(a, panel, r0, r1, t0, tt, part);
  }
}

// Vectors per tile for a tile of tt tokens: the smallest power of two covering it, at most kMaxVecs.
template <class V>
int vecs_for(int64_t tt) {
  int nv = 1;
  while (nv < V::kMaxVecs && static_cast<int64_t>(nv) * V::kWidth < tt) nv *= 2;
  return nv;
}

template <class V>
void spmm_tiled(const SpmmArgs& a) {
  constexpr int64_t W = V::kWidth;
  constexpr int64_t G = V::kGroup;
  constexpr int64_t TT = V::kMaxVecs * W;
  const int64_t tokens = a.tokens;
  const int64_t out = a.w.rows;
  const int64_t in = a.w.cols;
  if (tokens <= 0 || out <= 0) return;
  const int threads = a.threads > 0 ? a.threads : 1;
  const int64_t n_tiles = (tokens + TT - 1) / TT;
  constexpr int64_t kRowBlock = 16 * G;  // rows per run_rows call in the tile-parallel schedule
  const int64_t panel_floats = (in > 0 ? in : 1) * TT;

  if (threads == 1 || n_tiles >= 2 * threads) {
    // Threads own token tiles.
#pragma omp parallel num_threads(threads)
    {
      float* panel = thread_scratch(0, static_cast<std::size_t>(panel_floats));
      float* part = thread_scratch(1, static_cast<std::size_t>(kRowBlock * TT));
#pragma omp for schedule(dynamic, 1)
      for (int64_t tile = 0; tile < n_tiles; ++tile) {
        const int64_t t0 = tile * TT;
        const int64_t tt = min_i64(TT, tokens - t0);
        const int nv = vecs_for<V>(tt);
        pack_panel<V>(a.x + t0 * in, in, tt, nv * W, 0, in, panel);
        for (int64_t r0 = 0; r0 < out; r0 += kRowBlock) run_rows_nv<V>(nv, a, panel, r0, min_i64(out, r0 + kRowBlock), t0, tt, part);
      }
    }
    return;
  }

  // Few tokens: build every tile's panel once (shared), then split row groups across threads.
  float* panels = thread_scratch(0, static_cast<std::size_t>(n_tiles * panel_floats));
  constexpr int64_t kJobRows = 4 * G;
  const int64_t jobs_per_tile = (out + kJobRows - 1) / kJobRows;
  const int64_t col_chunks = (in + 63) / 64;
#pragma omp parallel num_threads(threads)
  {
    float* part = thread_scratch(1, static_cast<std::size_t>(kJobRows * TT));
#pragma omp for schedule(static) collapse(2)
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      for (int64_t cc = 0; cc < col_chunks; ++cc) {
        const int64_t t0 = tile * TT;
        const int64_t tt = min_i64(TT, tokens - t0);
        const int nv = vecs_for<V>(tt);
        pack_panel<V>(a.x + t0 * in, in, tt, nv * W, cc * 64, min_i64(in, cc * 64 + 64), panels + tile * panel_floats);
      }
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t job = 0; job < n_tiles * jobs_per_tile; ++job) {
      const int64_t tile = job / jobs_per_tile;
      const int64_t t0 = tile * TT;
      const int64_t tt = min_i64(TT, tokens - t0);
      const int nv = vecs_for<V>(tt);
      const int64_t r0 = (job % jobs_per_tile) * kJobRows;
      run_rows_nv<V>(nv, a, panels + tile * panel_floats, r0, min_i64(out, r0 + kJobRows), t0, tt, part);
    }
  }
}

}  // namespace
}  // namespace lth::ops::detail
