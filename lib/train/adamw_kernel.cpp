#include "train/adamw_kernel.h"

#include <cmath>

namespace lth::train {

void adamw_update(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                  int64_t begin, int64_t end, const AdamWScalars& s) {
  const AdamWScalars k = s;  // locals: the compiler need not reload them through the reference
  for (int64_t i = begin; i < end; ++i) {
    const float gi = g[i];
    const float pi = p[i] * k.decay;
    const float mi = m[i] * k.beta1 + k.one_minus_beta1 * gi;
    const float vi = v[i] * k.beta2 + k.one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / k.bias_correction2_sqrt + k.eps;
    p[i] = pi + k.neg_step_size * (mi / denom);
  }
}

void adamw_replay_row(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict zeros,
                      int64_t n, const AdamWScalars* history, int64_t count) {
  bool only_decay = true;  // all-zero moments, and eps > 0 in every update (else the step term is 0 / 0)
  for (int64_t i = 0; i < n; ++i) only_decay &= (m[i] == 0.0f) & (v[i] == 0.0f);
  for (int64_t e = 0; e < count; ++e) only_decay &= history[e].eps > 0.0f;
  if (!only_decay) {
    for (int64_t e = 0; e < count; ++e) adamw_update(p, zeros, m, v, 0, n, history[e]);
    return;
  }
  for (int64_t e = 0; e < count; ++e) {
    const float decay = history[e].decay;
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] * decay;
  }
}

}  // namespace lth::train
