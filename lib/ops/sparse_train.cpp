#include "ops/sparse_train.h"

#include <vector>

#include <torch/torch.h>

#include "core/error.h"
#include "ops/sparse_kernels.h"
#include "ops/sparse_linear.h"

namespace lth::ops {

int64_t SparsePattern::nnz() const { return col_idx.defined() ? col_idx.numel() : 0; }

double SparsePattern::density() const {
  const double total = static_cast<double>(rows) * static_cast<double>(cols);
  return total > 0 ? static_cast<double>(nnz()) / total : 0.0;
}

std::shared_ptr<const SparsePattern> sparse_pattern(const at::Tensor& mask) {
  LTH_CHECK(mask.dim() == 2, ShapeError, "sparse pattern: mask must be 2-D [out, in], got {} dims", mask.dim());
  // Row order: the inference path's CSR of the 0/1 matrix (pack checks the int32 limit).
  const PackedSparse csr = pack(mask.ne(0));
  const int64_t rows = csr.rows(), cols = csr.cols(), nnz = csr.nnz();
  auto p = std::make_shared<SparsePattern>();
  p->rows = rows;
  p->cols = cols;
  const auto i32 = torch::TensorOptions().dtype(torch::kInt32);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  p->row_ptr = torch::tensor(csr.row_ptr(), i32);
  p->col_idx = torch::tensor(csr.col_idx(), i32);
  p->src = torch::empty({nnz}, i64);
  p->t_row_ptr = torch::zeros({cols + 1}, i32);
  p->t_col_idx = torch::empty({nnz}, i32);
  p->t_src = torch::empty({nnz}, i64);
  const int32_t* rp = csr.row_ptr().data();
  const int32_t* ci = csr.col_idx().data();
  int64_t* src = p->src.data_ptr<int64_t>();
  int32_t* trp = p->t_row_ptr.data_ptr<int32_t>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int32_t k = rp[r]; k < rp[r + 1]; ++k) {
      src[k] = r * cols + ci[k];
      ++trp[ci[k] + 1];
    }
  }
  for (int64_t c = 0; c < cols; ++c) trp[c + 1] += trp[c];
  // Transposed order: rows of W^T are W's columns; within one, W's rows ascend.
  std::vector<int32_t> fill(trp, trp + cols);
  int32_t* tci = p->t_col_idx.data_ptr<int32_t>();
  int64_t* tsrc = p->t_src.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int32_t k = rp[r]; k < rp[r + 1]; ++k) {
      const int32_t at = fill[static_cast<std::size_t>(ci[k])]++;
      tci[at] = static_cast<int32_t>(r);
      tsrc[at] = src[k];
    }
  }
  return p;
}

namespace {

detail::CsrView csr_view(const at::Tensor& row_ptr, const at::Tensor& col_idx, const float* values, int64_t rows,
                         int64_t cols) {
  detail::CsrView v;
  v.rows = rows;
  v.cols = cols;
  v.row_ptr = row_ptr.data_ptr<int32_t>();
  v.col_idx = col_idx.data_ptr<int32_t>();
  v.values = values;
  return v;
}

// values[k] = weight.flat[src[k]]: the live weight at the pattern's positions, in its order.
at::Tensor gather(const at::Tensor& weight, const at::Tensor& src) {
  const at::Tensor w = weight.detach().to(torch::kFloat32).contiguous();
  at::Tensor out = torch::empty({src.numel()}, torch::kFloat32);
  const float* wp = w.data_ptr<float>();
  const int64_t* s = src.data_ptr<int64_t>();
  float* o = out.data_ptr<float>();
  const int64_t n = src.numel();
  for (int64_t k = 0; k < n; ++k) o[k] = wp[s[k]];
  return out;
}

void run_spmm(SparseIsa isa, const detail::CsrView& w, const at::Tensor& x, float* y) {
  detail::SpmmArgs a;
  a.w = w;
  a.x = x.data_ptr<float>();
  a.tokens = x.size(0);
  a.y = y;
  a.threads = at::get_num_threads();
  detail::spmm(isa, a);
}

// dW at the kept positions, scattered into a dense [out, in] gradient. The SDDMM walks the pattern
// in the order whose columns are the narrower side (W's rows or its transpose's), so that the
// operand it streams per kept weight (b) is the smaller block: 768 x 128 floats fit in L2 where
// 3072 x 128 do not.
at::Tensor weight_gradient(SparseIsa isa, const at::Tensor& dy, const at::Tensor& x, const SparsePattern& pattern) {
  const int64_t tokens = x.size(0), in = x.size(1), out = dy.size(1);
  const bool by_columns = in > out;
  const at::Tensor& row_ptr = by_columns ? pattern.t_row_ptr : pattern.row_ptr;
  const at::Tensor& col_idx = by_columns ? pattern.t_col_idx : pattern.col_idx;
  const at::Tensor& src = by_columns ? pattern.t_src : pattern.src;
  // The operands in token blocks, in per-thread buffers kept across calls (no page faults a step).
  const int threads = at::get_num_threads();
  const int64_t blocks = (tokens + detail::kSddmmChunk - 1) / detail::kSddmmChunk;
  auto pack = [&](const at::Tensor& t, int slot) {
    const int64_t n = t.size(1);
    float* dst = detail::thread_scratch(slot, static_cast<std::size_t>(blocks * n * detail::kSddmmChunk));
    detail::token_blocks(isa, t.data_ptr<float>(), tokens, n, dst, threads);
    return dst;
  };
  const float* a = pack(by_columns ? x : dy, 2);
  const float* b = pack(by_columns ? dy : x, 3);
  at::Tensor values = torch::empty({src.numel()}, torch::kFloat32);
  detail::SddmmArgs s;
  s.pattern = by_columns ? csr_view(row_ptr, col_idx, nullptr, in, out) : csr_view(row_ptr, col_idx, nullptr, out, in);
  s.a = a;
  s.b = b;
  s.tokens = tokens;
  s.out = values.data_ptr<float>();
  s.threads = threads;
  detail::sddmm(isa, s);
  at::Tensor dw = torch::zeros({out, in}, torch::kFloat32);
  float* d = dw.data_ptr<float>();
  const int64_t* sp = src.data_ptr<int64_t>();
  const float* v = values.data_ptr<float>();
  for (int64_t k = 0; k < src.numel(); ++k) d[sp[k]] = v[k];
  return dw;
}

// The pattern travels as tensor arguments (saved with the activations); `isa` as an integer; a
// missing bias as an empty tensor.
struct MaskedSparseLinear : torch::autograd::Function<MaskedSparseLinear> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& row_ptr, const at::Tensor& col_idx,
                            const at::Tensor& src, const at::Tensor& t_row_ptr, const at::Tensor& t_col_idx,
                            const at::Tensor& t_src, int64_t isa) {
    const int64_t out = weight.size(0), in = weight.size(1);
    const at::Tensor x2 = x.reshape({-1, in}).to(torch::kFloat32).contiguous();
    const at::Tensor values = gather(weight, src);
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = out;
    at::Tensor y = torch::empty({x2.size(0), out}, torch::kFloat32);
    run_spmm(static_cast<SparseIsa>(isa), csr_view(row_ptr, col_idx, values.data_ptr<float>(), out, in), x2,
         y.data_ptr<float>());
    const bool has_bias = bias.numel() > 0;
    if (has_bias) y.add_(bias.detach().to(torch::kFloat32));
    ctx->save_for_backward({x2, weight, row_ptr, col_idx, src, t_row_ptr, t_col_idx, t_src});
    ctx->saved_data["isa"] = isa;
    ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["has_bias"] = has_bias;
    return y.view(shape);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x2 = saved[0];
    const at::Tensor& weight = saved[1];
    const auto isa = static_cast<SparseIsa>(ctx->saved_data["isa"].toInt());
    const auto x_dtype = static_cast<c10::ScalarType>(ctx->saved_data["x_dtype"].toInt());
    const int64_t out = weight.size(0), in = weight.size(1), tokens = x2.size(0);
    SparsePattern pattern;  // as forward saved it, after x and weight
    pattern.rows = out;
    pattern.cols = in;
    pattern.row_ptr = saved[2];
    pattern.col_idx = saved[3];
    pattern.src = saved[4];
    pattern.t_row_ptr = saved[5];
    pattern.t_col_idx = saved[6];
    pattern.t_src = saved[7];
    const at::Tensor dy = grads[0].reshape({tokens, out}).to(torch::kFloat32).contiguous();
    torch::autograd::variable_list result(10);
    if (ctx->needs_input_grad(0)) {
      const at::Tensor t_values = gather(weight, pattern.t_src);
      at::Tensor dx = torch::empty({tokens, in}, torch::kFloat32);
      run_spmm(isa, csr_view(pattern.t_row_ptr, pattern.t_col_idx, t_values.data_ptr<float>(), in, out), dy,
               dx.data_ptr<float>());
      std::vector<int64_t> shape(grads[0].sizes().begin(), grads[0].sizes().end());
      shape.back() = in;
      result[0] = dx.view(shape).to(x_dtype);
    }
    if (ctx->needs_input_grad(1)) result[1] = weight_gradient(isa, dy, x2, pattern).to(weight.scalar_type());
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) result[2] = dy.sum(0);
    return result;
  }
};

}  // namespace

at::Tensor masked_sparse_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const SparsePattern& pattern, SparseIsa isa) {
  LTH_CHECK(weight.dim() == 2 && weight.size(0) == pattern.rows && weight.size(1) == pattern.cols, ShapeError,
            "masked_sparse_linear: weight is not [{}, {}] like its pattern", pattern.rows, pattern.cols);
  LTH_CHECK(x.dim() >= 1 && x.size(-1) == pattern.cols, ShapeError,
            "masked_sparse_linear: input's last size {} is not in_features = {}", x.dim() >= 1 ? x.size(-1) : 0,
            pattern.cols);
  LTH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == pattern.rows), ShapeError,
            "masked_sparse_linear: bias must be [{}]", pattern.rows);
  LTH_CHECK(x.device().is_cpu() && weight.device().is_cpu() && at::isFloatingType(x.scalar_type()), ShapeError,
            "masked_sparse_linear: input and weight must be floating tensors on the CPU");
  LTH_CHECK(isa_supported(isa), ConfigError, "sparse kernel path '{}' is not supported on this CPU/build", isa_name(isa));
  // No bias travels as an empty tensor: LibTorch 1.13's Function::apply cannot take an undefined one.
  const at::Tensor b = bias.defined() ? bias : torch::empty({0}, weight.options());
  return MaskedSparseLinear::apply(x, weight, b, pattern.row_ptr, pattern.col_idx, pattern.src, pattern.t_row_ptr,
                                   pattern.t_col_idx, pattern.t_src, static_cast<int64_t>(isa));
}

// Measured on a quiet machine with bench/sparse_train_ratio (one masked Linear) and `lth bench
// --train` (docs/BENCHMARKS.md, "Sparse training"), as dense time / sparse time of a Linear's
// forward + backward:
//                                                  sparsity 0.5        0.6        0.7        0.8        0.9
//   avx2 (another VM), BERT-base, 1024 tokens, 2 threads  0.40-0.76  -          0.82-1.13  1.11-1.60  2.49-2.57
//   avx512, BERT-base shapes, 1024 tokens, 2 threads      0.77-0.87  1.03-1.10  1.35-1.43  1.97-2.17  3.31-3.67
//   BERT-Tiny encoder step, 1024 tokens, 1 thread: avx2 0.5: 0.79, 0.8: 1.23, 0.9: 1.47 (another VM);
//                                                  avx512 0.5: 0.92-1.02, 0.55: 1.12, 0.7: 1.23, 0.9: 1.95
// The weight gradient (SDDMM) is the weakest of the three products, so training crosses over later
// than inference does: on avx2 near 75% sparsity at BERT-base shapes and near 65% at BERT-Tiny's, on
// avx512 near 60% and 50%; the thresholds keep a margin above each crossover. Portable and reference
// keep the inference ones.
double sparse_train_crossover_density(SparseIsa isa, int64_t in, int64_t out) {
  const bool small = in * out <= 128 * 1024;  // the tiny model's layers
  switch (isa) {
    case SparseIsa::kAvx512: return small ? 0.45 : 0.35;
    case SparseIsa::kAvx2: return small ? 0.35 : 0.25;
    case SparseIsa::kPortable:
    case SparseIsa::kReference: return sparse_crossover_density(isa, in, out);
  }
  return 0.0;
}

}  // namespace lth::ops
