// Dropout whose random stream is a hash of (seed, element index) instead of LibTorch's per-element
// mt19937 draws: LibTorch 1.13's CPU dropout (bernoulli_ without MKL) spends ~50 ns an element, a
// large share of a BERT-Tiny step; this one is 2-3x cheaper (docs/BENCHMARKS.md, "Dropout"). The seed
// comes from LibTorch's default CPU generator, so `--seed` reproduces a run, and the mask does not
// depend on the thread count. Devices other than CPU use at::dropout.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace lth::ops {

// x * mask with mask = 0 (probability p) or 1 / (1 - p); x itself when !training or p == 0.
at::Tensor dropout(const at::Tensor& x, double p, bool training);

// The mask dropout multiplies by, for a given seed: element i is dropped when the top 32 bits of
// splitmix64(seed + i * 0x9e3779b97f4a7c15) fall below p * 2^32. dtype float, double or bfloat16.
at::Tensor dropout_mask(at::IntArrayRef sizes, at::ScalarType dtype, double p, uint64_t seed);

}  // namespace lth::ops
