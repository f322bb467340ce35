#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/runtime.h"

namespace lth::cli {

void add_runtime_options(CLI::App& command, RuntimeOptions& options) {
  command.add_option("--threads", options.threads, "Intra-op threads (0 = all available cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command.add_option("--device", options.device, "Compute device: cpu, cuda or cuda:N")->capture_default_str();
}

std::string apply_runtime_options(const RuntimeOptions& options) {
  const std::string device = check_device(options.device);
  setup_threads(options.threads);
  return device;
}

}  // namespace lth::cli
