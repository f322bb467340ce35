#include "ops/sparse_linear.h"

#include <torch/torch.h>

#include "core/error.h"
#include "ops/sparse_kernels.h"

namespace lth::ops {

PackedSparse PackedSparse::from_csr(int64_t rows, int64_t cols, std::vector<int32_t> row_ptr,
                                    std::vector<int32_t> col_idx, std::vector<float> values) {
  LTH_CHECK(rows >= 0 && cols >= 0, ShapeError, "sparse weight: negative shape [{}, {}]", rows, cols);
  LTH_CHECK(static_cast<int64_t>(row_ptr.size()) == rows + 1, ShapeError,
            "sparse weight: row_ptr has {} entries, expected rows + 1 = {}", row_ptr.size(), rows + 1);
  LTH_CHECK(col_idx.size() == values.size(), ShapeError, "sparse weight: {} column indices but {} values",
            col_idx.size(), values.size());
  LTH_CHECK(row_ptr.front() == 0 && static_cast<std::size_t>(row_ptr.back()) == values.size(), ShapeError,
            "sparse weight: row_ptr must run from 0 to nnz = {} (got {} .. {})", values.size(), row_ptr.front(),
            row_ptr.back());
  for (int64_t r = 0; r < rows; ++r) {
    LTH_CHECK(row_ptr[r] <= row_ptr[r + 1], ShapeError, "sparse weight: row_ptr decreases at row {}", r);
  }
  for (std::size_t k = 0; k < col_idx.size(); ++k) {
    LTH_CHECK(col_idx[k] >= 0 && col_idx[k] < cols, ShapeError,
              "sparse weight: col_idx[{}] = {} outside [0, {})", k, col_idx[k], cols);
  }
  PackedSparse p;
  p.rows_ = rows;
  p.cols_ = cols;
  p.row_ptr_ = std::move(row_ptr);
  p.col_idx_ = std::move(col_idx);
  p.values_ = std::move(values);
  return p;
}

double PackedSparse::density() const {
  const double total = static_cast<double>(rows_) * static_cast<double>(cols_);
  return total > 0 ? static_cast<double>(nnz()) / total : 0.0;
}

std::size_t PackedSparse::bytes() const {
  return row_ptr_.size() * sizeof(int32_t) + col_idx_.size() * sizeof(int32_t) + values_.size() * sizeof(float);
}

at::Tensor PackedSparse::to_dense() const {
  at::Tensor d = torch::zeros({rows_, cols_}, torch::kFloat32);
  float* p = d.data_ptr<float>();
  for (int64_t r = 0; r < rows_; ++r) {
    for (int32_t k = row_ptr_[r]; k < row_ptr_[r + 1]; ++k) p[r * cols_ + col_idx_[k]] = values_[k];
  }
  return d;
}

PackedSparse pack(const at::Tensor& dense_weight) {
  LTH_CHECK(dense_weight.dim() == 2, ShapeError, "pack: weight must be 2-D [out, in], got {} dims",
            dense_weight.dim());
  const at::Tensor w = dense_weight.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t rows = w.size(0);
  const int64_t cols = w.size(1);
  const float* p = w.data_ptr<float>();
  const int64_t nnz = w.count_nonzero().item<int64_t>();
  LTH_CHECK(nnz <= INT32_MAX, ShapeError, "pack: {} kept weights exceed the int32 CSR limit", nnz);
  std::vector<int32_t> row_ptr(static_cast<std::size_t>(rows) + 1, 0);
  std::vector<int32_t> col_idx;
  std::vector<float> values;
  col_idx.reserve(static_cast<std::size_t>(nnz));
  values.reserve(static_cast<std::size_t>(nnz));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = p + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      if (row[c] != 0.0f) {
        col_idx.push_back(static_cast<int32_t>(c));
        values.push_back(row[c]);
      }
    }
    row_ptr[r + 1] = static_cast<int32_t>(values.size());
  }
  return PackedSparse::from_csr(rows, cols, std::move(row_ptr), std::move(col_idx), std::move(values));
}

void sparse_linear_raw(const PackedSparse& w, const float* x, int64_t tokens, const float* bias, float* y,
                       SparseIsa isa, int threads) {
  LTH_CHECK(isa_supported(isa), ConfigError, "sparse kernel path '{}' is not supported on this CPU/build",
            isa_name(isa));
  detail::SpmmArgs a;
  a.w.rows = w.rows();
  a.w.cols = w.cols();
  a.w.row_ptr = w.row_ptr().data();
  a.w.col_idx = w.col_idx().data();
  a.w.values = w.values().data();
  a.x = x;
  a.tokens = tokens;
  a.bias = bias;
  a.y = y;
  a.threads = threads > 0 ? threads : at::get_num_threads();
  detail::spmm(isa, a);
}

at::Tensor sparse_linear(const PackedSparse& w, const at::Tensor& x, const c10::optional<at::Tensor>& bias,
                         SparseIsa isa) {
  LTH_CHECK(x.dim() >= 1 && x.size(-1) == w.cols(), ShapeError,
            "sparse_linear: input of {} dims with last size {} does not end in in_features = {}", x.dim(),
            x.dim() >= 1 ? x.size(-1) : 0, w.cols());
  LTH_CHECK(x.scalar_type() == at::kFloat && x.device().is_cpu(), ShapeError,
            "sparse_linear: input must be float32 on the CPU");
  const at::Tensor xc = x.contiguous();
  at::Tensor bc;
  if (bias.has_value() && bias->defined()) {
    LTH_CHECK(bias->dim() == 1 && bias->size(0) == w.rows() && bias->scalar_type() == at::kFloat, ShapeError,
              "sparse_linear: bias must be float32 [{}]", w.rows());
    bc = bias->contiguous();
  }
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = w.rows();
  at::Tensor y = torch::empty(out_shape, torch::kFloat32);
  int64_t tokens = 1;
  for (int64_t d = 0; d + 1 < x.dim(); ++d) tokens *= x.size(d);
  sparse_linear_raw(w, xc.data_ptr<float>(), tokens, bc.defined() ? bc.data_ptr<float>() : nullptr,
                    y.data_ptr<float>(), isa, at::get_num_threads());
  return y;
}

at::Tensor sparse_linear(const PackedSparse& w, const at::Tensor& x, const c10::optional<at::Tensor>& bias) {
  return sparse_linear(w, x, bias, selected_isa());
}

// Measured with bench/sparse_ratio (2 threads, 4096 tokens, interleaved wall time) and confirmed with
// single-thread CPU time (robust to other load) on AMD Zen 5 (AVX-512), Debian OpenBLAS, uniform masks.
// Speedup dense/sparse by sparsity, 1 thread, CPU time:
//                    0.5    0.6    0.7    0.8    0.9    0.95
//   avx512 768x768   1.25   1.81   2.42   3.55   6.35   10.1
//   avx512 3072x768  0.79   1.66   2.35   3.39   6.16   10.4
//   avx512 768x3072  1.00   1.43   2.10   3.17   5.88   10.1
//   avx512 tiny      1.6-1.9 (128x128, 512x128, 128x512; >= 1 from sparsity 0.3)
//   avx2   BERT-base 0.70-0.88 at 0.5, 1.09-1.23 at 0.6, 1.57-1.91 at 0.7, 4.3-4.8 at 0.9
//   avx2   tiny      0.95-1.23 at 0.5, 1.3-1.6 at 0.6
//   portable         ~1.0 at 0.9, 1.3-2.0 at 0.95
// Break-even densities: avx512 ~0.5 (base), > 0.7 (tiny); avx2 ~0.42 (base), ~0.55 (tiny); portable
// ~0.10. The thresholds below sit one notch safer so a choice near the edge never loses.
double sparse_crossover_density(SparseIsa isa, int64_t in, int64_t out) {
  const bool small = in * out <= 128 * 1024;  // the tiny model's layers: dense has high fixed costs
  switch (isa) {
    case SparseIsa::kAvx512: return small ? 0.60 : 0.40;
    case SparseIsa::kAvx2: return small ? 0.45 : 0.35;
    case SparseIsa::kPortable: return 0.08;
    case SparseIsa::kReference: return 0.0;
  }
  return 0.0;
}

bool should_use_sparse(double density, int64_t in, int64_t out) {
  return density < sparse_crossover_density(selected_isa(), in, out);
}

}  // namespace lth::ops
