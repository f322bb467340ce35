#include "ops/dropout.h"

#include <algorithm>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "core/error.h"

namespace lth::ops {
namespace {

// splitmix64's output function: a bijective mix whose consecutive inputs give independent-looking bits.
inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <typename T>
void fill_mask(T* out, int64_t begin, int64_t end, uint64_t seed, uint32_t threshold, T keep) {
  const T drop = static_cast<T>(0.0f);
  for (int64_t i = begin; i < end; ++i) {
    const auto u = static_cast<uint32_t>(mix(seed + static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL) >> 32);
    out[i] = u >= threshold ? keep : drop;
  }
}

uint64_t draw_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

}  // namespace

at::Tensor dropout_mask(at::IntArrayRef sizes, at::ScalarType dtype, double p, uint64_t seed) {
  LTH_CHECK(p >= 0.0 && p < 1.0, Error, "dropout: probability {} is not in [0, 1)", p);
  auto mask = at::empty(sizes, at::TensorOptions().dtype(dtype));
  const auto threshold = static_cast<uint32_t>(std::min(p * 4294967296.0, 4294967295.0));
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, dtype, "lth_dropout_mask", [&] {
    scalar_t* out = mask.data_ptr<scalar_t>();
    const auto keep_value = static_cast<scalar_t>(keep);
    at::parallel_for(0, mask.numel(), 1 << 14,
                     [&](int64_t begin, int64_t end) { fill_mask(out, begin, end, seed, threshold, keep_value); });
  });
  return mask;
}

at::Tensor dropout(const at::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  const auto t = x.scalar_type();
  if (!x.device().is_cpu() || p >= 1.0 || !(t == at::kFloat || t == at::kDouble || t == at::kBFloat16)) {
    return at::dropout(x, p, training);
  }
  return x * dropout_mask(x.sizes(), t, p, draw_seed());
}

}  // namespace lth::ops
