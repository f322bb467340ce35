// Sparse linear layer for pruned weights: Y = X W^T + b with W stored compressed (CSR).
//
// Layout: CSR over W [out, in] in natural row order: row_ptr (int32, out + 1 entries), col_idx
// (int32, ascending within a row) and values (float). Why CSR and no row reordering or blocking: the
// kernel vectorises over tokens, not over W, so it needs nothing from W but "for each output row, its
// (column, weight) pairs"; natural row order lets each group of 16 output rows be written to Y with
// register transposes (no scatter, no permutation pass); and the three arrays are the standard format
// any other tool (scipy, torch.sparse_csr) reads, so saving/loading is copying arrays. Load balance
// across threads comes from splitting tokens, not rows, so skewed row lengths cost nothing.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "ops/isa.h"

namespace lth::ops {

class PackedSparse {
 public:
  PackedSparse() = default;
  // Takes ownership of CSR arrays (e.g. read back from a file). Validates them: row_ptr has rows + 1
  // non-decreasing entries from 0 to nnz, every col_idx in [0, cols). Throws ShapeError otherwise.
  static PackedSparse from_csr(int64_t rows, int64_t cols, std::vector<int32_t> row_ptr, std::vector<int32_t> col_idx,
                               std::vector<float> values);

  int64_t rows() const { return rows_; }  // out features
  int64_t cols() const { return cols_; }  // in features
  int64_t nnz() const { return static_cast<int64_t>(values_.size()); }
  const std::vector<int32_t>& row_ptr() const { return row_ptr_; }
  const std::vector<int32_t>& col_idx() const { return col_idx_; }
  const std::vector<float>& values() const { return values_; }

  // Kept fraction nnz / (rows * cols); 0 for an empty shape.
  double density() const;
  // Bytes of the three CSR arrays (what a file holding them needs, headers aside).
  std::size_t bytes() const;
  // The dense [rows, cols] float32 matrix again (pruned entries 0).
  at::Tensor to_dense() const;

 private:
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  std::vector<int32_t> row_ptr_{0};
  std::vector<int32_t> col_idx_;
  std::vector<float> values_;
};

// Packs a dense 2-D weight [out, in] (any float dtype, converted to float32); exact zeros are pruned.
// Throws ShapeError for other ranks or more than 2^31 - 1 kept weights.
PackedSparse pack(const at::Tensor& dense_weight);

// y [..., out] = x [..., in] * W^T + bias, for float32 CPU x (made contiguous if it is not) and bias
// [out]. Uses selected_isa() and at::get_num_threads() threads.
at::Tensor sparse_linear(const PackedSparse& w, const at::Tensor& x, const c10::optional<at::Tensor>& bias);
// Same on an explicit path (tests, benchmarks). Throws ConfigError if the CPU cannot run it.
at::Tensor sparse_linear(const PackedSparse& w, const at::Tensor& x, const c10::optional<at::Tensor>& bias,
                         SparseIsa isa);

// Raw form: x [tokens, in] and y [tokens, out] row-major; bias null or [out]. threads <= 0: all of
// OpenMP's. No allocation per call besides per-thread scratch that grows once.
void sparse_linear_raw(const PackedSparse& w, const float* x, int64_t tokens, const float* bias, float* y,
                       SparseIsa isa, int threads);

// Whether the sparse kernel beats dense at::linear for a weight [out, in] of this density on the
// selected path, from the crossovers measured by bench/sparse_ratio (see the table in sparse_linear.cpp):
// on AVX-512 BERT-base layers sparse wins from ~50% sparsity and is used from 60%.
bool should_use_sparse(double density, int64_t in, int64_t out);
// Densities below this use the sparse kernel on `isa` (the measured crossover, with a margin).
double sparse_crossover_density(SparseIsa isa, int64_t in, int64_t out);

}  // namespace lth::ops
