// ops::batched_matmul against at::matmul (the independent truth): values and both gradients for
// the strided views attention passes (head splits, transposes), alpha, the heads-last layout, the
// copies for views BLAS cannot read, and the fallbacks.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "ops/batched_matmul.h"

namespace {

// A [B, H, L, d] view with the heads split off a contiguous [B, L, H * d] tensor, as attention has.
at::Tensor heads(int64_t b, int64_t h, int64_t l, int64_t d) {
  return torch::randn({b, l, h * d}).view({b, l, h, d}).permute({0, 2, 1, 3});
}

// Values and gradients of alpha * a @ b by ops::batched_matmul and by at::matmul, compared in fp32.
void check_against_matmul(const at::Tensor& a0, const at::Tensor& b0, double alpha, bool heads_last) {
  auto a = a0.detach().clone().requires_grad_(true), b = b0.detach().clone().requires_grad_(true);
  auto ra = a0.detach().clone().requires_grad_(true), rb = b0.detach().clone().requires_grad_(true);
  const auto y = lth::ops::batched_matmul(a, b, alpha, heads_last);
  const auto ref = at::matmul(ra, rb) * alpha;
  REQUIRE(y.sizes() == ref.sizes());
  CHECK(torch::allclose(y, ref, 1e-5, 1e-5));
  const auto g = torch::randn(ref.sizes());
  (y * g).sum().backward();
  (ref * g).sum().backward();
  CHECK(torch::allclose(a.grad(), ra.grad(), 1e-5, 1e-5));
  CHECK(torch::allclose(b.grad(), rb.grad(), 1e-5, 1e-5));
}

}  // namespace

TEST_SUITE("ops.batched_matmul") {
  TEST_CASE("contiguous 3-D and 4-D operands, with and without alpha") {
    torch::manual_seed(1);
    check_against_matmul(torch::randn({5, 7, 3}), torch::randn({5, 3, 4}), 1.0, false);
    check_against_matmul(torch::randn({2, 3, 9, 8}), torch::randn({2, 3, 8, 6}), 0.125, false);
    CHECK(lth::ops::batched_matmul_native(torch::randn({5, 7, 3}), torch::randn({5, 3, 4})));
  }

  TEST_CASE("attention's strided views: scores = scale q k^T and context = p v, heads last") {
    torch::manual_seed(2);
    const int initial = at::get_num_threads();
    for (const int threads : {1, 2}) {
      CAPTURE(threads);
      at::set_num_threads(threads);
      // q and k as head splits; k^T is a transpose of a head split (no unit stride in its last dim).
      const auto q = heads(3, 4, 11, 8), k = heads(3, 4, 11, 8), v = heads(3, 4, 11, 8);
      CHECK(lth::ops::batched_matmul_native(q, k.transpose(-1, -2)));
      const auto s = lth::ops::batched_matmul(q, k.transpose(-1, -2), 0.35);
      CHECK(torch::allclose(s, at::matmul(q, k.transpose(-1, -2)) * 0.35, 1e-5, 1e-5));
      const auto p = torch::softmax(torch::randn({3, 4, 11, 11}), -1);
      const auto c = lth::ops::batched_matmul(p, v, 1.0, true);
      CHECK(torch::allclose(c, at::matmul(p, v), 1e-5, 1e-5));
      // Heads last: [B, H, L, d] is a view of a contiguous [B, L, H, d].
      CHECK(c.permute({0, 2, 1, 3}).is_contiguous());
      // Gradients through the views, against at::matmul's on the same leaves.
      const auto base = torch::randn({3, 11, 32});
      auto x1 = base.clone().requires_grad_(true), x2 = base.clone().requires_grad_(true);
      auto split = [](const at::Tensor& x) { return x.view({3, 11, 4, 8}).permute({0, 2, 1, 3}); };
      const auto g = torch::randn({3, 4, 11, 11});
      (lth::ops::batched_matmul(split(x1), split(x1 * 2).transpose(-1, -2), 0.5) * g).sum().backward();
      (at::matmul(split(x2), split(x2 * 2).transpose(-1, -2)) * 0.5 * g).sum().backward();
      CHECK(torch::allclose(x1.grad(), x2.grad(), 1e-5, 1e-5));
    }
    at::set_num_threads(initial);
  }

  TEST_CASE("many small matrices (the threaded batch) and few large ones (the threaded BLAS)") {
    torch::manual_seed(3);
    const int initial = at::get_num_threads();
    at::set_num_threads(2);
    check_against_matmul(torch::randn({64, 5, 3}), torch::randn({64, 3, 2}), 1.0, false);
    check_against_matmul(torch::randn({1, 1, 70, 90}), torch::randn({1, 1, 90, 50}), 2.0, true);
    at::set_num_threads(initial);
  }

  TEST_CASE("views BLAS cannot read in place are copied; results stay right") {
    torch::manual_seed(4);
    // Every other column: no unit stride in either matrix dim (values and the gradient through it).
    auto base = torch::randn({2, 6, 10}).requires_grad_(true);
    auto ref_base = base.detach().clone().requires_grad_(true);
    const auto b = torch::randn({2, 5, 4}), g = torch::randn({2, 6, 4});
    const auto a = base.slice(2, 0, 10, 2);
    CHECK(a.stride(-1) == 2);
    CHECK(lth::ops::batched_matmul_native(a, b));
    const auto y = lth::ops::batched_matmul(a, b, 0.5);
    const auto ref = at::matmul(ref_base.slice(2, 0, 10, 2), b) * 0.5;
    CHECK(torch::allclose(y, ref, 1e-5, 1e-5));
    (y * g).sum().backward();
    (ref * g).sum().backward();
    CHECK(torch::allclose(base.grad(), ref_base.grad(), 1e-5, 1e-5));
    // An expanded (stride 0) batch dim and a broadcast row.
    const auto e = torch::randn({1, 4, 3}).expand({3, 4, 3});
    const auto r = torch::randn({3, 1, 5}).expand({3, 3, 5});
    CHECK(torch::allclose(lth::ops::batched_matmul(e, r), at::matmul(e, r), 1e-5, 1e-5));
  }

  TEST_CASE("degenerate sizes: one row, one column, an empty contraction, an empty batch") {
    torch::manual_seed(5);
    check_against_matmul(torch::randn({3, 1, 4}), torch::randn({3, 4, 1}), 1.0, false);
    const auto z = lth::ops::batched_matmul(torch::randn({2, 3, 0}), torch::randn({2, 0, 4}));
    CHECK(z.sizes() == at::IntArrayRef({2, 3, 4}));
    CHECK(z.abs().sum().item<float>() == 0.0f);
    CHECK(lth::ops::batched_matmul(torch::randn({0, 3, 2}), torch::randn({0, 2, 4})).numel() == 0);
  }

  TEST_CASE("other dtypes, broadcast batches and 2-D operands fall back to at::matmul") {
    const auto d = torch::randn({2, 3, 4}, torch::kFloat64), e = torch::randn({2, 4, 5}, torch::kFloat64);
    CHECK_FALSE(lth::ops::batched_matmul_native(d, e));
    CHECK(torch::allclose(lth::ops::batched_matmul(d, e, 0.5), at::matmul(d, e) * 0.5));
    const auto a = torch::randn({2, 3, 4}), b = torch::randn({1, 4, 5});
    CHECK_FALSE(lth::ops::batched_matmul_native(a, b));
    CHECK(torch::allclose(lth::ops::batched_matmul(a, b), at::matmul(a, b)));
    CHECK_FALSE(lth::ops::batched_matmul_native(torch::randn({3, 4}), torch::randn({4, 5})));
  }
}
