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

}  // namespace lth::train
