// ops::dropout: the mask's values and rate, its determinism (seed, threads), independence between
// calls and neighbouring elements, and the gradient.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "ops/dropout.h"

namespace {

// Dropped fraction of a mask (elements equal to 0).
double dropped(const at::Tensor& mask) { return mask.eq(0).to(torch::kDouble).mean().item<double>(); }

}  // namespace

TEST_SUITE("ops.dropout") {
  TEST_CASE("eval mode and p = 0 return the input itself") {
    const auto x = torch::randn({4, 5});
    CHECK(lth::ops::dropout(x, 0.1, false).is_same(x));
    CHECK(lth::ops::dropout(x, 0.0, true).is_same(x));
  }

  TEST_CASE("the mask holds only 0 and 1/(1-p), at rate p within 5 standard deviations") {
    const int64_t n = 1 << 20;
    for (double p : {0.1, 0.5, 0.9}) {
      CAPTURE(p);
      const auto mask = lth::ops::dropout_mask({n}, torch::kFloat, p, 12345);
      const float keep = static_cast<float>(1.0 / (1.0 - p));
      CHECK(mask.eq(0).logical_or(mask.eq(keep)).all().item<bool>());
      const double sd = std::sqrt(p * (1 - p) / static_cast<double>(n));
      CHECK(std::abs(dropped(mask) - p) < 5 * sd);
      // Neighbours are independent: both of a pair (i, i + 1) dropped at rate p^2.
      const auto d = mask.eq(0);
      const double both = d.slice(0, 0, n - 1).logical_and(d.slice(0, 1, n)).to(torch::kDouble).mean().item<double>();
      CHECK(std::abs(both - p * p) < 5 * std::sqrt(p * p * (1 - p * p) / static_cast<double>(n)));
    }
  }

  TEST_CASE("same seed, same mask, whatever the thread count; another seed, another mask") {
    const int threads = at::get_num_threads();
    at::set_num_threads(1);
    const auto one = lth::ops::dropout_mask({300, 700}, torch::kFloat, 0.1, 7);
    at::set_num_threads(2);
    const auto two = lth::ops::dropout_mask({300, 700}, torch::kFloat, 0.1, 7);
    at::set_num_threads(threads);
    CHECK(torch::equal(one, two));
    const auto other = lth::ops::dropout_mask({300, 700}, torch::kFloat, 0.1, 8);
    // Two independent masks at p = 0.1 agree on a position with probability 0.82.
    const double agree = one.eq(other).to(torch::kDouble).mean().item<double>();
    CHECK(agree > 0.80);
    CHECK(agree < 0.84);
  }

  TEST_CASE("the seed comes from LibTorch's generator: manual_seed reproduces, consecutive calls differ") {
    const auto x = torch::ones({64, 64});
    torch::manual_seed(3);
    const auto a = lth::ops::dropout(x, 0.2, true), b = lth::ops::dropout(x, 0.2, true);
    torch::manual_seed(3);
    const auto a2 = lth::ops::dropout(x, 0.2, true);
    CHECK(torch::equal(a, a2));
    CHECK_FALSE(torch::equal(a, b));
  }

  TEST_CASE("bfloat16 and double masks make the same decisions as float") {
    const auto f = lth::ops::dropout_mask({4096}, torch::kFloat, 0.3, 99);
    const auto h = lth::ops::dropout_mask({4096}, torch::kBFloat16, 0.3, 99);
    const auto d = lth::ops::dropout_mask({4096}, torch::kDouble, 0.3, 99);
    CHECK(torch::equal(f.eq(0), h.eq(0)));
    CHECK(torch::equal(f.eq(0), d.eq(0)));
    CHECK(h.max().item<float>() == static_cast<float>(c10::BFloat16(static_cast<float>(1.0 / 0.7))));
  }

  TEST_CASE("the gradient is the mask; a bad probability is an lth::Error") {
    auto x = torch::randn({50, 40}, torch::requires_grad());
    torch::manual_seed(11);
    auto y = lth::ops::dropout(x, 0.25, true);
    y.sum().backward();
    // y = x * mask, so dy/dx = mask: 0 where dropped, 1/(1-p) where kept.
    const auto mask = x.grad();
    CHECK(torch::allclose(y, x.detach() * mask));
    CHECK(mask.eq(0).logical_or(mask.eq(static_cast<float>(1.0 / 0.75))).all().item<bool>());
    CHECK_THROWS_AS(lth::ops::dropout_mask({3}, torch::kFloat, 1.0, 1), lth::Error);
    CHECK_THROWS_AS(lth::ops::dropout_mask({3}, torch::kFloat, -0.1, 1), lth::Error);
  }
}
