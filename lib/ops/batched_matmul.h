// Batched matrix products for attention (q k^T and p v) in fp32 on the CPU: one BLAS call per matrix,
// the batch spread over the threads, strided operands read in place. LibTorch 1.13's bmm loops over
// the batch on one thread and lets the BLAS thread each small product (a wake-up of the other
// threads per (sequence, head) matrix, ~10^4 a BERT-base step), after copying permuted or transposed
// operands to contiguous ones (docs/BENCHMARKS.md, "Attention products").
#pragma once

#include <ATen/core/Tensor.h>

namespace lth::ops {

// Whether batched_matmul runs its own kernel for these operands (fp32 CPU tensors of at least 3
// dims with the same batch sizes, and no autocast); otherwise it falls back to at::matmul.
bool batched_matmul_native(const at::Tensor& a, const at::Tensor& b);

// alpha * a @ b over the leading (batch) dims: a [..., m, k], b [..., k, n] -> [..., m, n].
// Differentiable in a and b. Each operand's matrices may be any view with a unit stride in one of
// their two dims (a transpose, heads split off a [batch, length, hidden] tensor); other views are
// copied first. With `heads_last`, a 4-D result [B, H, m, n] is a view of a contiguous [B, m, H, n]
// tensor, so that attention's permute back to [B, m, H * n] costs no copy.
at::Tensor batched_matmul(const at::Tensor& a, const at::Tensor& b, double alpha = 1.0, bool heads_last = false);

}  // namespace lth::ops
