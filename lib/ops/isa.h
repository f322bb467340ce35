// Instruction-set paths of the sparse linear kernel and how one is chosen at run time. Torch-free.
#pragma once

#include <string>

namespace lth::ops {

// kReference: plain scalar loops over the CSR arrays (the test oracle, never fast).
// kPortable: the tiled kernel in baseline x86-64 / any-CPU C++ (auto-vectorised by the compiler).
// kAvx2, kAvx512: the tiled kernel with intrinsics, compiled in their own translation units.
enum class SparseIsa { kReference, kPortable, kAvx2, kAvx512 };

// "reference", "portable", "avx2", "avx512".
const char* isa_name(SparseIsa isa);
// Inverse of isa_name (also accepts "scalar" for reference, "generic" for portable). Throws ConfigError.
SparseIsa parse_isa(const std::string& name);
// Whether this CPU (and this build) can run the path. kReference and kPortable always can.
bool isa_supported(SparseIsa isa);
// The fastest supported path on this CPU.
SparseIsa best_isa();
// The path sparse_linear uses: LTH_SPARSE_ISA when set (ConfigError if unknown or unsupported here),
// else best_isa(). Read once per process.
SparseIsa selected_isa();

}  // namespace lth::ops
