// Sparse training's masked Linear (ops/sparse_train.h) against the dense masked path it replaces:
// at::linear(x, W * mask, b) under autograd gives the truth for y, dx, dW and db on every kernel
// path this CPU runs, for token counts on and off the kernels' tile and chunk sizes.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/isa.h"
#include "ops/sparse_train.h"

using lth::ops::SparseIsa;

namespace sparse_train_test {  // named: the suite is a unity build with test_sparse_linear.cpp

std::vector<SparseIsa> train_paths() {
  std::vector<SparseIsa> out;
  for (SparseIsa isa : {SparseIsa::kReference, SparseIsa::kPortable, SparseIsa::kAvx2, SparseIsa::kAvx512}) {
    if (lth::ops::isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

// max |got - want| / (max |want| + 1e-6): one number per tensor, for sums of up to a few hundred
// fp32 terms in another order.
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(torch::kFloat32) - want).abs().max().item<double>() / (want.abs().max().item<double>() + 1e-6);
}

struct Grads {
  at::Tensor y, dx, dw, db;
};

Grads run(const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& b0, const at::Tensor& dy,
          const std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>& linear) {
  const at::Tensor x = x0.clone().requires_grad_(true);
  const at::Tensor w = w0.clone().requires_grad_(true);
  const at::Tensor b = b0.defined() ? b0.clone().requires_grad_(true) : at::Tensor();
  const at::Tensor y = linear(x, w, b);
  (y * dy).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : at::Tensor()};
}

}  // namespace sparse_train_test

using namespace sparse_train_test;

TEST_SUITE("ops.sparse_train") {
  TEST_CASE("pattern: both CSR orders and the flat indices of a hand-written mask") {
    // kept: (0,1) (0,3) (2,0) (2,1); row 1 empty.
    const at::Tensor mask = torch::tensor({0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0}, torch::kInt64).view({3, 4});
    const auto p = lth::ops::sparse_pattern(mask);
    auto ints = [](const at::Tensor& t) {
      const at::Tensor c = t.to(torch::kInt64).contiguous();
      return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
    };
    CHECK(p->rows == 3);
    CHECK(p->cols == 4);
    CHECK(p->nnz() == 4);
    CHECK(p->density() == doctest::Approx(4.0 / 12.0));
    CHECK(ints(p->row_ptr) == std::vector<int64_t>{0, 2, 2, 4});
    CHECK(ints(p->col_idx) == std::vector<int64_t>{1, 3, 0, 1});
    CHECK(ints(p->src) == std::vector<int64_t>{1, 3, 8, 9});
    CHECK(ints(p->t_row_ptr) == std::vector<int64_t>{0, 1, 3, 3, 4});
    CHECK(ints(p->t_col_idx) == std::vector<int64_t>{2, 0, 2, 0});
    CHECK(ints(p->t_src) == std::vector<int64_t>{8, 1, 9, 3});
    CHECK_THROWS_AS(lth::ops::sparse_pattern(torch::ones({4})), lth::ShapeError);
  }

  TEST_CASE("y, dx, dW and db equal the dense masked Linear's on every path") {
    struct Shape {
      int64_t tokens, in, out;
      double density;
    };
    // Tokens off the spmm tile (32) and the SDDMM chunk (128); densities from empty to full.
    const std::vector<Shape> shapes = {{1, 16, 8, 0.5},    {37, 64, 48, 0.1},  {130, 128, 512, 0.2},
                                       {300, 96, 40, 0.05}, {64, 32, 32, 0.0},  {33, 24, 56, 1.0}};
    for (SparseIsa isa : train_paths()) {
      for (const Shape& s : shapes) {
        for (bool with_bias : {true, false}) {
          CAPTURE(lth::ops::isa_name(isa));
          CAPTURE(s.tokens);
          CAPTURE(s.in);
          CAPTURE(s.out);
          CAPTURE(s.density);
          CAPTURE(with_bias);
          torch::manual_seed(static_cast<uint64_t>(s.tokens * 131 + s.in));
          const at::Tensor mask = (torch::rand({s.out, s.in}) < s.density).to(torch::kFloat32);
          // Weights outside the mask are nonzero on purpose: the sparse path must read them as 0.
          const at::Tensor w = torch::randn({s.out, s.in});
          const at::Tensor b = with_bias ? torch::randn({s.out}) : at::Tensor();
          const at::Tensor x = torch::randn({s.tokens, s.in});
          const at::Tensor dy = torch::randn({s.tokens, s.out});
          const auto pattern = lth::ops::sparse_pattern(mask);
          const Grads want = run(x, w, b, dy, [&](const at::Tensor& xi, const at::Tensor& wi, const at::Tensor& bi) {
            return at::linear(xi, wi * mask, bi.defined() ? c10::optional<at::Tensor>(bi) : c10::nullopt);
          });
          const Grads got = run(x, w, b, dy, [&](const at::Tensor& xi, const at::Tensor& wi, const at::Tensor& bi) {
            return lth::ops::masked_sparse_linear(xi, wi, bi, *pattern, isa);
          });
          CHECK(relative_error(got.y, want.y) < 1e-5);
          CHECK(relative_error(got.dx, want.dx) < 1e-5);
          CHECK(relative_error(got.dw, want.dw) < 1e-5);
          // The gradient outside the mask is exactly 0, as masking it would leave it.
          CHECK(got.dw.masked_select(mask.eq(0)).ne(0).sum().item<int64_t>() == 0);
          if (with_bias) {
            CHECK(relative_error(got.db, want.db) < 1e-5);
          } else {
            CHECK_FALSE(got.db.defined());
          }
        }
      }
    }
  }

  TEST_CASE("batched input keeps its shape; bf16 input computes in fp32 and gets a bf16 gradient") {
    torch::manual_seed(5);
    const at::Tensor mask = (torch::rand({24, 40}) < 0.3).to(torch::kFloat32);
    const auto pattern = lth::ops::sparse_pattern(mask);
    const at::Tensor w = torch::randn({24, 40}).requires_grad_(true);
    const at::Tensor x = torch::randn({3, 7, 40}).to(torch::kBFloat16).requires_grad_(true);
    const at::Tensor y = lth::ops::masked_sparse_linear(x, w, at::Tensor(), *pattern, lth::ops::selected_isa());
    CHECK(y.sizes() == at::IntArrayRef({3, 7, 24}));
    CHECK((y.scalar_type() == torch::kFloat32));
    const at::Tensor want = at::linear(x.detach().to(torch::kFloat32), w.detach() * mask);
    CHECK(relative_error(y.detach(), want) < 1e-5);
    y.sum().backward();
    CHECK((x.grad().scalar_type() == torch::kBFloat16));
    CHECK(x.grad().sizes() == x.sizes());
    CHECK(w.grad().sizes() == w.sizes());
  }

  TEST_CASE("shapes that do not fit the pattern are refused") {
    const auto pattern = lth::ops::sparse_pattern(torch::ones({4, 6}));
    const SparseIsa isa = SparseIsa::kReference;
    CHECK_THROWS_AS(lth::ops::masked_sparse_linear(torch::randn({2, 5}), torch::randn({4, 6}), {}, *pattern, isa),
                    lth::ShapeError);
    CHECK_THROWS_AS(lth::ops::masked_sparse_linear(torch::randn({2, 6}), torch::randn({6, 4}), {}, *pattern, isa),
                    lth::ShapeError);
    CHECK_THROWS_AS(lth::ops::masked_sparse_linear(torch::randn({2, 6}), torch::randn({4, 6}), torch::randn({3}),
                                                   *pattern, isa),
                    lth::ShapeError);
  }
}
