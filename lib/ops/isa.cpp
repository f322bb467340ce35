#include "ops/isa.h"

#include <cstdlib>

#include "core/error.h"
#include "ops/sparse_kernels.h"

namespace lth::ops {

const char* isa_name(SparseIsa isa) {
  switch (isa) {
    case SparseIsa::kReference: return "reference";
    case SparseIsa::kPortable: return "portable";
    case SparseIsa::kAvx2: return "avx2";
    case SparseIsa::kAvx512: return "avx512";
  }
  return "?";
}

SparseIsa parse_isa(const std::string& name) {
  if (name == "reference" || name == "scalar") return SparseIsa::kReference;
  if (name == "portable" || name == "generic") return SparseIsa::kPortable;
  if (name == "avx2") return SparseIsa::kAvx2;
  if (name == "avx512") return SparseIsa::kAvx512;
  LTH_FAIL(ConfigError, "unknown sparse kernel ISA '{}' (expected reference, portable, avx2 or avx512)", name);
}

bool isa_supported(SparseIsa isa) {
  switch (isa) {
    case SparseIsa::kReference:
    case SparseIsa::kPortable: return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case SparseIsa::kAvx2:
      return detail::avx2_compiled() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SparseIsa::kAvx512:
      return detail::avx512_compiled() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
#else
    case SparseIsa::kAvx2:
    case SparseIsa::kAvx512: return false;
#endif
  }
  return false;
}

SparseIsa best_isa() {
  if (isa_supported(SparseIsa::kAvx512)) return SparseIsa::kAvx512;
  if (isa_supported(SparseIsa::kAvx2)) return SparseIsa::kAvx2;
  return SparseIsa::kPortable;
}

SparseIsa selected_isa() {
  static const SparseIsa isa = [] {
    const char* env = std::getenv("LTH_SPARSE_ISA");
    if (!env || !*env) return best_isa();
    const SparseIsa want = parse_isa(env);
    LTH_CHECK(isa_supported(want), ConfigError, "LTH_SPARSE_ISA={}: this CPU or build cannot run that path", env);
    return want;
  }();
  return isa;
}

}  // namespace lth::ops
