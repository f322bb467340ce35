// Tensor comparison for tests: |a - b| <= atol + rtol * |b| element-wise, with a message that says
// where and by how much they differ.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace lth::testing {

struct CloseResult {
  bool ok = true;
  double max_abs = 0.0;  // largest |a - b|
  std::string message;   // empty when ok
};

CloseResult compare_close(const at::Tensor& actual, const at::Tensor& expected, double atol, double rtol,
                          const std::string& what);

}  // namespace lth::testing

// CHECK that two tensors are close; prints max abs/rel error and the worst index on failure.
#define EXPECT_CLOSE(actual, expected, atol, rtol, what)                                        \
  do {                                                                                          \
    auto lth_close_ = ::lth::testing::compare_close((actual), (expected), (atol), (rtol), (what)); \
    INFO(lth_close_.message);                                                                   \
    CHECK(lth_close_.ok);                                                                       \
  } while (0)
