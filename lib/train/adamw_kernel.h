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

}  // namespace lth::train
