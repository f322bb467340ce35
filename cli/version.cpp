#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/log.h"
#include "core/runtime.h"

namespace lth::cli {

void add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print version, LibTorch, BLAS and thread information");
  auto threads = std::make_shared<int>(0);
  add_number(*cmd, "--threads", *threads, "Intra-op threads to report (0 = all available cores)", threads_range())
      ->capture_default_str();
  cmd->callback([threads] {
    const int n = setup_threads(*threads);
    const BlasInfo blas = detect_blas();
    fmt::print("lth {}\n", LTH_VERSION);
    fmt::print("libtorch {}\n", TORCH_VERSION);
    fmt::print("blas {} ({})\n", blas.kind, blas.library.empty() ? "not mapped" : blas.library);
    fmt::print("threads {} of {} available cores\n", n, available_cores());
    // The wait policy cli/main.cpp chose before libgomp started (core/omp_wait.h), or the user's own.
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    fmt::print("openmp wait policy {}, spin count {}\n", policy != nullptr ? policy : "libgomp's default",
               spin != nullptr ? spin : (policy != nullptr && std::strcmp(policy, "PASSIVE") == 0 ? "0" : "libgomp's default"));
    fmt::print("cuda {}\n", torch::cuda::is_available() ? "available" : "not available");
    if (blas.kind == "reference") {
      log::warn("runtime",
                "LibTorch is using the reference BLAS ({}), 15-60x slower than OpenBLAS; run "
                "scripts/install-deps or `apt-get install libopenblas0-openmp`",
                blas.library);
    }
  });
}

}  // namespace lth::cli
