#include "ops/isa.h"

#include <cstdlib>

#include "core/enum_names.h"
#include "core/error.h"
#include "ops/sparse_kernels.h"

namespace lth::ops {

namespace {
constexpr EnumName<SparseIsa> kIsas[] = {{SparseIsa::kReference, "reference"}, {SparseIsa::kReference, "scalar"},
                                         {SparseIsa::kPortable, "portable"},   {SparseIsa::kPortable, "generic"},
                                         {SparseIsa::kAvx2, "avx2"},           {SparseIsa::kAvx512, "avx512"}};
}  // namespace

const char* isa_name(SparseIsa isa) { return enum_name(kIsas, isa); }

SparseIsa parse_isa(const std::string& name) {
  if (auto isa = enum_from_name(kIsas, name)) return *isa;
  LTH_FAIL(ConfigError, "unknown sparse kernel ISA '{}' (expected {})", name, enum_choices(kIsas, " or "));
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
