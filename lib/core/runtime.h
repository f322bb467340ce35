// Process-wide runtime settings: intra-op threads, the BLAS LibTorch calls, the compute device.
#pragma once

#include <string>

namespace lth {

// Sets LibTorch's intra-op thread count (and OpenMP's). threads <= 0 means all available cores.
// Returns the count in effect.
int setup_threads(int threads);

// Number of cores this process may run on (sched affinity, not the host total).
int available_cores();

// Seeds LibTorch's default CPU generator with 0. Its C++ default seed is nondeterministic, so
// whatever a command draws without seeding its own (a head `lth eval` or `lth forward` creates for a
// checkpoint that lacks one) would differ from run to run. cli/main.cpp calls it before any command;
// commands with a --seed set theirs after.
void seed_default_generator();

struct BlasInfo {
  std::string library;  // resolved path of the loaded libblas, or "" when none is mapped
  std::string kind;     // "openblas", "mkl", "blis", "reference", or "unknown"
};

// Which BLAS the process actually uses (looks at the mapped libraries after forcing one GEMM).
BlasInfo detect_blas();

// Parses "cpu", "cuda", "cuda:1". Throws UsageError for unknown devices and when CUDA is asked for
// but not available in this LibTorch build or machine.
std::string check_device(const std::string& device);

// Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX-BF16), where bf16 autocast pays.
bool cpu_has_bf16();

// The precision a run uses: "fp32" and "bf16" as given; "auto" (the CLI default) is bf16 autocast
// on a CPU device that has native bf16, fp32 otherwise. Anything else is a UsageError.
std::string resolve_precision(const std::string& precision, const std::string& device);

}  // namespace lth
