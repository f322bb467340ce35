#include "core/runtime.h"

#include <sched.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <mutex>
#include <thread>

#include <torch/torch.h>

#include "core/error.h"
#include "core/options.h"

namespace lth {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int setup_threads(int threads) {
  check_range("--threads", threads, threads_range());  // thousands of OpenMP threads stall the process
  const int n = threads > 0 ? threads : available_cores();
  at::set_num_threads(n);
  return at::get_num_threads();
}

void seed_default_generator() {
  // The CPU generator only: torch::manual_seed would also start CUDA, at every command.
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(0);
}

BlasInfo detect_blas() {
  // A tiny GEMM makes sure LibTorch has loaded its BLAS before we look at the mappings.
  auto a = torch::ones({8, 8});
  (void)torch::mm(a, a);
  BlasInfo info;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string file = std::filesystem::path(path).filename().string();
    if (file.rfind("libblas", 0) == 0 || file.rfind("libopenblas", 0) == 0 || file.rfind("libmkl_rt", 0) == 0 ||
        file.rfind("libblis", 0) == 0) {
      info.library = path;
      break;
    }
  }
  const std::string& p = info.library;
  if (p.empty()) {
    info.kind = "unknown";
  } else if (p.find("openblas") != std::string::npos) {
    info.kind = "openblas";
  } else if (p.find("mkl") != std::string::npos) {
    info.kind = "mkl";
  } else if (p.find("blis") != std::string::npos) {
    info.kind = "blis";
  } else if (p.find("/blas/") != std::string::npos) {
    info.kind = "reference";
  } else {
    info.kind = "unknown";
  }
  return info;
}

bool cpu_has_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
#if defined(__clang__) && __clang_major__ < 16
  return __builtin_cpu_supports("avx512bf16");  // clang < 16 does not know "amx-bf16" (the fuzz build)
#else
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
#endif
#else
  return false;
#endif
}

std::string resolve_precision(const std::string& precision, const std::string& device) {
  if (precision == "fp32" || precision == "bf16") return precision;
  LTH_CHECK(precision == "auto", UsageError, "--precision must be auto, fp32 or bf16, got '{}'", precision);
  return device.rfind("cpu", 0) == 0 && cpu_has_bf16() ? "bf16" : "fp32";
}

std::string check_device(const std::string& device) {
  c10::Device parsed(c10::kCPU);
  try {
    parsed = c10::Device(device);
  } catch (const c10::Error&) {
    LTH_FAIL(UsageError, "--device: unknown device '{}' (expected cpu, cuda or cuda:N)", device);
  }
  if (parsed.is_cuda() && !torch::cuda::is_available()) {
    LTH_FAIL(UsageError, "--device {}: CUDA is not available in this LibTorch build or on this machine", device);
  }
  if (!parsed.is_cpu() && !parsed.is_cuda()) {
    LTH_FAIL(UsageError, "--device {}: only cpu and cuda are supported", device);
  }
  return parsed.str();
}

}  // namespace lth
