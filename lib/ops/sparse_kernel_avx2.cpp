// AVX2 + FMA instantiation of the tiled kernel (compiled with -mavx2 -mfma). Token tiles of 32 (4 ymm),
// rows in groups of 8, 8x8 register transposes. No torch headers here.
#include "ops/sparse_kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "ops/sddmm_tiled.h"

namespace lth::ops::detail {
namespace {

struct Avx2 {
  using Reg = __m256;
  static constexpr int kWidth = 8;
  static constexpr int kMaxVecs = 4;
  static constexpr int kGroup = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float v) { return _mm256_set1_ps(v); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static float hsum(Reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
  }

  // dst[i][k] = src[k][i] (+ bias[k]) for an 8x8 block.
  static void transpose(const float* src, int64_t ss, float* dst, int64_t ds, const float* bias) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ss);
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4q + c], lane L = rows 4q..4q+3 of column 4L + c.
    for (int q = 0; q < 2; ++q) {
      r[4 * q + 0] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
      r[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
      r[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
      r[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
    }
    const __m256 b = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    for (int c = 0; c < 4; ++c) {
      _mm256_storeu_ps(dst + c * ds, _mm256_add_ps(_mm256_permute2f128_ps(r[c], r[4 + c], 0x20), b));
      _mm256_storeu_ps(dst + (4 + c) * ds, _mm256_add_ps(_mm256_permute2f128_ps(r[c], r[4 + c], 0x31), b));
    }
  }
};

}  // namespace

void spmm_avx2(const SpmmArgs& a) { spmm_tiled<Avx2>(a); }
void sddmm_avx2(const SddmmArgs& s) { sddmm_tiled<Avx2>(s); }
void token_blocks_avx2(const float* src, int64_t tokens, int64_t n, float* dst, int threads) {
  token_blocks_tiled<Avx2>(src, tokens, n, dst, threads);
}
bool avx2_compiled() { return true; }

}  // namespace lth::ops::detail

#else

namespace lth::ops::detail {
void spmm_avx2(const SpmmArgs& a) { spmm_portable(a); }
void sddmm_avx2(const SddmmArgs& s) { sddmm_portable(s); }
void token_blocks_avx2(const float* src, int64_t tokens, int64_t n, float* dst, int threads) {
  token_blocks_portable(src, tokens, n, dst, threads);
}
bool avx2_compiled() { return false; }
}  // namespace lth::ops::detail

#endif
