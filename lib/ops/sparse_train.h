// Sparse training of a masked Linear: y = x W^T + b with W exactly zero outside a fixed mask (an IMP
// level's). All three products of a training step run over the kept positions only:
//   forward          y  = x W^T        CSR of W times the token panels (the inference kernel)
//   input gradient   dx = dy W         the same kernel over the CSR of W^T
//   weight gradient  dW = dy^T x       sampled dense-dense product (SDDMM) at the kept positions
// so their cost falls with the density where dense GEMMs do not. The weight's values are read from
// the live parameter at every call (the optimizer updates it between steps); only the pattern is
// fixed. The gradient of the weight is a dense tensor, exactly 0 outside the pattern, so optimizers,
// clipping and data-parallel reductions see what they see on the dense path.
#pragma once

#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>

#include "ops/isa.h"

namespace lth::ops {

// The kept positions of a mask [out, in] in two orders, each entry with its flat index into W:
// row-major CSR (for x W^T) and the CSR of the transpose (for dy W). int32 CPU tensors (int64 for
// the flat indices), so that autograd can hold them with the saved activations.
struct SparsePattern {
  int64_t rows = 0;  // out
  int64_t cols = 0;  // in
  at::Tensor row_ptr, col_idx, src;        // by rows: [rows + 1], [nnz], [nnz]
  at::Tensor t_row_ptr, t_col_idx, t_src;  // by columns: [cols + 1], [nnz], [nnz]

  int64_t nnz() const;
  double density() const;  // nnz / (rows * cols), 0 for an empty shape
};

// From a 2-D mask of any dtype (nonzero = kept). Throws ShapeError for another rank or more than
// 2^31 - 1 kept positions.
std::shared_ptr<const SparsePattern> sparse_pattern(const at::Tensor& mask);

// y [..., out] = x [..., in] W^T + bias (bias may be undefined), differentiable in x, weight and bias
// like at::linear, with the weight's entries outside the pattern taken as 0 and given gradient 0.
// Computes in float32 on the CPU: x of another floating dtype (bf16 autocast) is cast to float32 and
// its gradient cast back; y is float32. ShapeError when the shapes do not fit the pattern.
at::Tensor masked_sparse_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const SparsePattern& pattern, SparseIsa isa);

// Whether a masked weight [out, in] of this density trains faster sparse than dense on `isa`, from
// the crossovers `lth bench --train` measured (the table in sparse_train.cpp).
double sparse_train_crossover_density(SparseIsa isa, int64_t in, int64_t out);

}  // namespace lth::ops
