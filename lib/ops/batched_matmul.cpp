#include "ops/batched_matmul.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/torch_compat.h"

namespace lth::ops {
namespace {

// BLAS's sgemm (column-major, Fortran calling convention), the one LibTorch itself calls: Debian's
// LibTorch loads libblas.so.3 (OpenBLAS with libopenblas0-openmp), the wheel's libtorch_cpu exports
// its MKL's. Looked up at run time, so lth links no BLAS of its own; without one, at::matmul runs.
using Sgemm = void (*)(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                       const float* beta, float* c, const int* ldc);

Sgemm blas_sgemm() {
  static const auto fn = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "sgemm_"));
  return fn;
}

// One operand's matrices: the tensor BLAS reads (the operand, or its contiguous copy), where each
// matrix starts, and how a row-major [rows, cols] matrix lies in memory.
struct Matrices {
  at::Tensor tensor;
  const float* data = nullptr;
  std::vector<int64_t> offsets;  // element offset of each batch item's matrix
  bool column_major = false;     // element (i, j) at i + j * ld, else at i * ld + j
  int64_t ld = 1;
};

// Element offsets of every batch item (the dims before the last two), in row-major batch order.
std::vector<int64_t> batch_offsets(const at::Tensor& t) {
  const int64_t dims = t.dim() - 2;
  int64_t count = 1;
  for (int64_t d = 0; d < dims; ++d) count *= t.size(d);
  std::vector<int64_t> offsets(static_cast<size_t>(count));
  std::vector<int64_t> index(static_cast<size_t>(dims), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    offsets[static_cast<size_t>(i)] = offset;
    for (int64_t d = dims - 1; d >= 0; --d) {  // odometer step
      offset += t.stride(d);
      if (++index[static_cast<size_t>(d)] < t.size(d)) break;
      offset -= t.stride(d) * t.size(d);
      index[static_cast<size_t>(d)] = 0;
    }
  }
  return offsets;
}

// How BLAS can read t's matrices in place, if it can: one of the two strides must be 1 and the
// other at least the matrix's extent along the unit-stride dim.
bool blas_layout(const at::Tensor& t, bool* column_major, int64_t* ld) {
  const int64_t rows = t.size(-2), cols = t.size(-1), rs = t.stride(-2), cs = t.stride(-1);
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<int64_t>(cols, 1))) {
    *column_major = false;
    *ld = rows == 1 ? std::max<int64_t>(cols, 1) : rs;
    return true;
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<int64_t>(rows, 1))) {
    *column_major = true;
    *ld = cols == 1 ? std::max<int64_t>(rows, 1) : cs;
    return true;
  }
  return false;
}

Matrices matrices(const at::Tensor& t) {
  Matrices m;
  m.tensor = t;
  if (!blas_layout(t, &m.column_major, &m.ld)) {
    m.tensor = t.contiguous();
    blas_layout(m.tensor, &m.column_major, &m.ld);
  }
  m.data = m.tensor.data_ptr<float>();
  m.offsets = batch_offsets(m.tensor);
  return m;
}

// out = alpha * a @ b for every batch item (out: any batch strides, its matrices in either order).
void gemm_batch(const at::Tensor& a, const at::Tensor& b, float alpha, const at::Tensor& out) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  if (out.numel() == 0) return;
  if (k == 0) {
    out.zero_();
    return;
  }
  bool out_column_major = false;
  int64_t ldc = 1;
  if (!blas_layout(out, &out_column_major, &ldc)) {
    const at::Tensor tmp = at::empty(out.sizes(), out.options());
    gemm_batch(a, b, alpha, tmp);
    out.copy_(tmp);
    return;
  }
  if (out_column_major) {  // C^T = B^T A^T, written row-major into C's transpose
    gemm_batch(b.transpose(-1, -2), a.transpose(-1, -2), alpha, out.transpose(-1, -2));
    return;
  }
  const Matrices ma = matrices(a), mb = matrices(b);
  float* c = out.data_ptr<float>();
  const std::vector<int64_t> oc = batch_offsets(out);
  const auto count = static_cast<int64_t>(oc.size());
  // Row-major C = A B is column-major C^T = B^T A^T: BLAS's first operand is b, its second a.
  const char tb = mb.column_major ? 'T' : 'N', ta = ma.column_major ? 'T' : 'N';
  const int im = static_cast<int>(n), in = static_cast<int>(m), ik = static_cast<int>(k);
  const int lb = static_cast<int>(mb.ld), la = static_cast<int>(ma.ld), lc = static_cast<int>(ldc);
  const float beta = 0.0f;
  const Sgemm sgemm = blas_sgemm();
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto s = static_cast<size_t>(i);
      sgemm(&tb, &ta, &im, &in, &ik, &alpha, mb.data + mb.offsets[s], &lb, ma.data + ma.offsets[s], &la, &beta,
             c + oc[s], &lc);
    }
  };
  if (count < at::get_num_threads()) {
    run(0, count);  // few, larger matrices: the BLAS threads each one
    return;
  }
  // Inside the parallel region each BLAS call runs on its caller's thread (OpenBLAS and MKL both
  // check omp_in_parallel), so a thread computes whole matrices and nobody waits for a wake-up.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, m * n * k));
  at::parallel_for(0, count, grain, run);
}

// An uninitialised fp32 tensor with like's sizes, and like's strides when it is a dense permutation
// (so a gradient has its input's layout and flows back through the head split without a copy).
at::Tensor empty_as(const at::Tensor& like) {
  return at::empty_like(like, at::TensorOptions().dtype(at::kFloat), at::MemoryFormat::Preserve);
}

at::Tensor product(const at::Tensor& a, const at::Tensor& b, float alpha, bool heads_last) {
  std::vector<int64_t> sizes(a.sizes().begin(), a.sizes().end());
  sizes.back() = b.size(-1);
  at::Tensor out;
  if (heads_last && a.dim() == 4) {
    out = at::empty({sizes[0], sizes[2], sizes[1], sizes[3]}, a.options()).permute({0, 2, 1, 3});
  } else {
    out = at::empty(sizes, a.options());
  }
  gemm_batch(a, b, alpha, out);
  return out;
}

struct BatchedMatmul : torch::autograd::Function<BatchedMatmul> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b,
                            double alpha, bool heads_last) {
    ctx->save_for_backward({a, b});
    ctx->saved_data["alpha"] = alpha;
    return product(a, b, static_cast<float>(alpha), heads_last);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &a = saved[0], &b = saved[1];
    const auto alpha = static_cast<float>(ctx->saved_data["alpha"].toDouble());
    const at::Tensor g = grads[0].to(at::kFloat);
    torch::autograd::variable_list result(4);
    if (ctx->needs_input_grad(0)) {  // dA = alpha dC B^T
      result[0] = empty_as(a);
      gemm_batch(g, b.transpose(-1, -2), alpha, result[0]);
    }
    if (ctx->needs_input_grad(1)) {  // dB = alpha A^T dC
      result[1] = empty_as(b);
      gemm_batch(a.transpose(-1, -2), g, alpha, result[1]);
    }
    return result;
  }
};

}  // namespace

bool batched_matmul_native(const at::Tensor& a, const at::Tensor& b) {
  if (blas_sgemm() == nullptr || !a.defined() || !b.defined() || a.dim() < 3 || a.dim() != b.dim()) return false;
  if (!a.device().is_cpu() || !b.device().is_cpu() || a.scalar_type() != at::kFloat ||
      b.scalar_type() != at::kFloat || a.is_sparse() || b.is_sparse() || compat::cpu_autocast_enabled())
    return false;
  for (int64_t d = 0; d < a.dim() - 2; ++d)
    if (a.size(d) != b.size(d)) return false;
  // BLAS takes int sizes and leading dims.
  const int64_t limit = int64_t{1} << 30;
  for (const auto* t : {&a, &b})
    if (t->size(-1) >= limit || t->size(-2) >= limit || t->stride(-1) >= limit || t->stride(-2) >= limit) return false;
  return a.size(-1) == b.size(-2);
}

at::Tensor batched_matmul(const at::Tensor& a, const at::Tensor& b, double alpha, bool heads_last) {
  if (!batched_matmul_native(a, b)) {
    auto c = at::matmul(a, b);
    return alpha == 1.0 ? c : c * alpha;
  }
  return BatchedMatmul::apply(a, b, alpha, heads_last);
}

}  // namespace lth::ops
