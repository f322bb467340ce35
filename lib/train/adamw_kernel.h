// The AdamW update of one float32 parameter in a single pass over p, g, m and v (torch-free, so it
// compiles with -fno-math-errno and vectorises). Same per-element math, in float, as the op-by-op
// path in adamw.cpp (torch.optim.AdamW's single-tensor path):
//   p *= decay; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= step_size * m / (sqrt(v)/bc2_sqrt + eps)
#pragma once

#include <cstdint>

namespace lth::train {

struct AdamWScalars {
  float decay;          // 1 - lr * weight_decay (1 when the parameter has no decay)
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^t)
};

// Updates elements [begin, end).
void adamw_update(float* p, const float* g, float* m, float* v, int64_t begin, int64_t end, const AdamWScalars& s);

// Applies the `count` updates `history` with a zero gradient to one row of `n` elements, bit for bit
// what adamw_update with g = 0 does, one update after the other. `zeros` holds n zeros. A row whose
// moments are all zero (never had a gradient) only decays: with m = v = 0 and eps > 0 the step term
// is exactly -0, so p * decay is the same float the full update gives, at a fraction of the work.
void adamw_replay_row(float* p, float* m, float* v, const float* zeros, int64_t n, const AdamWScalars* history,
                      int64_t count);

}  // namespace lth::train
