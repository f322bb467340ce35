// Process-wide runtime settings: intra-op threads, the BLAS LibTorch calls, the compute device.
#pragma once

#include <string>

namespace lth {

// Sets LibTorch's intra-op thread count (and OpenMP's). threads <= 0 means all available cores.
// Returns the count in effect.
int setup_threads(int threads);

// Number of cores this process may run on (sched affinity, not the host total).
int available_cores();

struct BlasInfo {
  std::string library;  // resolved path of the loaded libblas, or "" when none is mapped
  std::string kind;     // "openblas", "mkl", "blis", "reference", or "unknown"
};

// Which BLAS the process actually uses (looks at the mapped libraries after forcing one GEMM).
BlasInfo detect_blas();

// Parses "cpu", "cuda", "cuda:1". Throws UsageError for unknown devices and when CUDA is asked for
// but not available in this LibTorch build or machine.
std::string check_device(const std::string& device);

}  // namespace lth
