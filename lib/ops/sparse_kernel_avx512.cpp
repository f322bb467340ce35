// AVX-512 instantiation of the tiled kernel (compiled with -mavx512f -mavx512bw -mavx512vl -mfma).
// Token tiles of 32 (2 zmm), rows in groups of 16, 16x16 register transposes. No torch headers here.
#include "ops/sparse_kernels.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "ops/sddmm_tiled.h"

// GCC 12's avx512fintrin.h implements unpack/shuffle through _mm512_undefined_ps(), which -Wuninitialized
// flags once inlined (GCC bug 105593, fixed in GCC 13; _mm512_reduce_add_ps the same as "maybe"). The values
// are fully defined; silence only those.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lth::ops::detail {
namespace {

struct Avx512 {
  using Reg = __m512;
  static constexpr int kWidth = 16;
  static constexpr int kMaxVecs = 2;
  static constexpr int kGroup = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float v) { return _mm512_set1_ps(v); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static float hsum(Reg v) { return _mm512_reduce_add_ps(v); }

  // dst[i][k] = src[k][i] (+ bias[k]) for a 16x16 block.
  static void transpose(const float* src, int64_t ss, float* dst, int64_t ds, const float* bias) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ss);
    // Per 128-bit lane L: t[2i] = (r2i[4L], r2i+1[4L], r2i[4L+1], r2i+1[4L+1]), t[2i+1] the upper pair.
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4q + c], lane L = rows 4q..4q+3 of column 4L + c.
    for (int q = 0; q < 4; ++q) {
      r[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
      r[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
      r[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
      r[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
    }
    const __m512 b = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    for (int c = 0; c < 4; ++c) {
      const __m512 v0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
      const __m512 w0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
      const __m512 v1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
      const __m512 w1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
      _mm512_storeu_ps(dst + (c)*ds, _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x88), b));
      _mm512_storeu_ps(dst + (4 + c) * ds, _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, 0x88), b));
      _mm512_storeu_ps(dst + (8 + c) * ds, _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0xDD), b));
      _mm512_storeu_ps(dst + (12 + c) * ds, _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, 0xDD), b));
    }
  }
};

}  // namespace

void spmm_avx512(const SpmmArgs& a) { spmm_tiled<Avx512>(a); }
void sddmm_avx512(const SddmmArgs& s) { sddmm_tiled<Avx512>(s); }
void token_blocks_avx512(const float* src, int64_t tokens, int64_t n, float* dst, int threads) {
  token_blocks_tiled<Avx512>(src, tokens, n, dst, threads);
}
bool avx512_compiled() { return true; }

}  // namespace lth::ops::detail

#else

namespace lth::ops::detail {
void spmm_avx512(const SpmmArgs& a) { spmm_portable(a); }
void sddmm_avx512(const SddmmArgs& s) { sddmm_portable(s); }
void token_blocks_avx512(const float* src, int64_t tokens, int64_t n, float* dst, int threads) {
  token_blocks_portable(src, tokens, n, dst, threads);
}
bool avx512_compiled() { return false; }
}  // namespace lth::ops::detail

#endif
