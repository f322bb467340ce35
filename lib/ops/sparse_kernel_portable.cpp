// Baseline-ISA pieces of the sparse kernel: the scalar reference, the portable tiled kernel (plain C++
// the compiler vectorises for whatever the build targets), and the per-thread scratch buffers.
#include <cstdlib>
#include <cstring>
#include <new>

#include "ops/sparse_kernels.h"
#include "ops/sddmm_tiled.h"

namespace lth::ops::detail {
namespace {

struct Portable {
  struct Reg {
    float v[8];
  };
  static constexpr int kWidth = 8;
  static constexpr int kMaxVecs = 4;
  static constexpr int kGroup = 8;
  static Reg zero() {
    Reg r;
    for (float& f : r.v) f = 0.0f;
    return r;
  }
  static Reg set1(float s) {
    Reg r;
    for (float& f : r.v) f = s;
    return r;
  }
  static Reg load(const float* p) {
    Reg r;
    std::memcpy(r.v, p, sizeof(r.v));
    return r;
  }
  static void store(float* p, const Reg& r) { std::memcpy(p, r.v, sizeof(r.v)); }
  static Reg fma(const Reg& a, const Reg& b, const Reg& c) {
    Reg r;
    for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
    return r;
  }
  static Reg add(const Reg& a, const Reg& b) {
    Reg r;
    for (int i = 0; i < 8; ++i) r.v[i] = a.v[i] + b.v[i];
    return r;
  }
  static float hsum(const Reg& r) {
    float s = 0.0f;
    for (float f : r.v) s += f;
    return s;
  }
  static void transpose(const float* src, int64_t ss, float* dst, int64_t ds, const float* bias) {
    for (int i = 0; i < 8; ++i) {
      for (int k = 0; k < 8; ++k) dst[i * ds + k] = src[k * ss + i] + (bias ? bias[k] : 0.0f);
    }
  }
};

struct Scratch {
  float* data[4] = {nullptr, nullptr, nullptr, nullptr};
  std::size_t size[4] = {0, 0, 0, 0};
  ~Scratch() {
    for (float* p : data) std::free(p);
  }
};

}  // namespace

float* thread_scratch(int slot, std::size_t floats) {
  thread_local Scratch scratch;
  if (scratch.size[slot] < floats) {
    std::free(scratch.data[slot]);
    const std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    scratch.data[slot] = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!scratch.data[slot]) {
      scratch.size[slot] = 0;
      throw std::bad_alloc();
    }
    scratch.size[slot] = floats;
  }
  return scratch.data[slot];
}

void spmm_reference(const SpmmArgs& a) {
  const CsrView& w = a.w;
  for (int64_t t = 0; t < a.tokens; ++t) {
    const float* x = a.x + t * w.cols;
    float* y = a.y + t * w.rows;
    for (int64_t r = 0; r < w.rows; ++r) {
      float acc = 0.0f;
      for (int32_t k = w.row_ptr[r]; k < w.row_ptr[r + 1]; ++k) acc += w.values[k] * x[w.col_idx[k]];
      y[r] = acc + (a.bias ? a.bias[r] : 0.0f);
    }
  }
}

void spmm_portable(const SpmmArgs& a) { spmm_tiled<Portable>(a); }

void sddmm_reference(const SddmmArgs& s) {
  const CsrView& p = s.pattern;
  constexpr int64_t B = kSddmmChunk;
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int32_t k = p.row_ptr[r]; k < p.row_ptr[r + 1]; ++k) {
      float acc = 0.0f;
      for (int64_t t = 0; t < s.tokens; ++t) {
        const int64_t blk = t / B, j = t % B;
        acc += s.a[(blk * p.rows + r) * B + j] * s.b[(blk * p.cols + p.col_idx[k]) * B + j];
      }
      s.out[k] = acc;
    }
  }
}

void sddmm_portable(const SddmmArgs& s) { sddmm_tiled<Portable>(s); }

void token_blocks_portable(const float* src, int64_t tokens, int64_t n, float* dst, int threads) {
  token_blocks_tiled<Portable>(src, tokens, n, dst, threads);
}

void token_blocks(SparseIsa isa, const float* src, int64_t tokens, int64_t n, float* dst, int threads) {
  switch (isa) {
    case SparseIsa::kReference:
    case SparseIsa::kPortable: token_blocks_portable(src, tokens, n, dst, threads); return;
    case SparseIsa::kAvx2: token_blocks_avx2(src, tokens, n, dst, threads); return;
    case SparseIsa::kAvx512: token_blocks_avx512(src, tokens, n, dst, threads); return;
  }
}

void spmm(SparseIsa isa, const SpmmArgs& a) {
  switch (isa) {
    case SparseIsa::kReference: spmm_reference(a); return;
    case SparseIsa::kPortable: spmm_portable(a); return;
    case SparseIsa::kAvx2: spmm_avx2(a); return;
    case SparseIsa::kAvx512: spmm_avx512(a); return;
  }
}

void sddmm(SparseIsa isa, const SddmmArgs& s) {
  switch (isa) {
    case SparseIsa::kReference: sddmm_reference(s); return;
    case SparseIsa::kPortable: sddmm_portable(s); return;
    case SparseIsa::kAvx2: sddmm_avx2(s); return;
    case SparseIsa::kAvx512: sddmm_avx512(s); return;
  }
}

}  // namespace lth::ops::detail
