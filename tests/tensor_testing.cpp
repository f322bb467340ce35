#include "tests/tensor_testing.h"

#include <fmt/format.h>
#include <torch/torch.h>

namespace lth::testing {

CloseResult compare_close(const at::Tensor& actual, const at::Tensor& expected, double atol, double rtol,
                          const std::string& what) {
  CloseResult r;
  if (!actual.defined() || !expected.defined()) {
    r.ok = false;
    r.message = what + ": tensor undefined";
    return r;
  }
  if (actual.sizes() != expected.sizes()) {
    r.ok = false;
    r.message = fmt::format("{}: shape [{}] != expected [{}]", what, fmt::join(actual.sizes(), ","),
                            fmt::join(expected.sizes(), ","));
    return r;
  }
  auto a = actual.to(torch::kFloat64).flatten(), b = expected.to(torch::kFloat64).flatten();
  if (a.numel() == 0) return r;
  auto diff = (a - b).abs();
  auto excess = diff - (atol + rtol * b.abs());
  r.max_abs = diff.max().item<double>();
  const int64_t worst = excess.argmax().item<int64_t>();
  const bool has_nan = a.isnan().any().item<bool>() != b.isnan().any().item<bool>();
  if (excess[worst].item<double>() > 0 || has_nan) {
    r.ok = false;
    r.message = fmt::format("{}: element {} = {:.9g} vs expected {:.9g} (|diff| {:.3g} > atol {} + rtol {}); max abs {:.3g}",
                            what, worst, a[worst].item<double>(), b[worst].item<double>(), diff[worst].item<double>(),
                            atol, rtol, r.max_abs);
  } else {
    r.message = fmt::format("{}: max abs diff {:.3g}", what, r.max_abs);
  }
  return r;
}

}  // namespace lth::testing
