// The few LibTorch APIs that differ between Debian's libtorch-dev 1.13 and the 2.x of PyPI's torch
// wheel (README "Building"), each behind one name. Everything else is written once against the API
// both versions share. Include it only from .cpp files.
#pragma once

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d

namespace lth::compat {

// CPU autocast state. 2.x keys it by device type (the 1.13 spellings are deprecated there).
inline bool cpu_autocast_enabled() {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}
inline void set_cpu_autocast_enabled(bool on) {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_enabled(at::kCPU, on);
#else
  at::autocast::set_cpu_enabled(on);
#endif
}
inline at::ScalarType cpu_autocast_dtype() {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::get_autocast_dtype(at::kCPU);
#else
  return at::autocast::get_autocast_cpu_dtype();
#endif
}
inline void set_cpu_autocast_dtype(at::ScalarType dtype) {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_dtype(at::kCPU, dtype);
#else
  at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

// Fused scaled-dot-product attention (softmax(q k^T * scale + mask) v, dropout on the weights):
// LibTorch 2.x has it (a flash kernel on CPU and CUDA that never holds the whole score matrix);
// 1.13 does not, and BERT's eager path is used there. `mask` is additive and broadcasts to
// [batch, heads, length, length].
#if TORCH_VERSION_MAJOR >= 2
constexpr bool kHasFusedAttention = true;
inline at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                                  double dropout_p, double scale) {
  return at::scaled_dot_product_attention(q, k, v, mask, dropout_p, /*is_causal=*/false, scale);
}
#else
constexpr bool kHasFusedAttention = false;
inline at::Tensor fused_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                  double) {
  return {};
}
#endif

// What ProcessGroupGloo / ProcessGroupNCCL derive from, and so what runs the collectives: 2.x split
// c10d::Backend out of c10d::ProcessGroup (which now only dispatches to backends).
#if TORCH_VERSION_MAJOR >= 2
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

}  // namespace lth::compat
