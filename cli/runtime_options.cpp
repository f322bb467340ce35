#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/runtime.h"

namespace lth::cli {

void add_runtime_options(CLI::App& command, RuntimeOptions& options) {
  add_number(command, "--threads", options.threads, "Intra-op threads (0 = all available cores)", threads_range())
      ->capture_default_str();
  command.add_option("--device", options.device, "Compute device: cpu, cuda or cuda:N")->capture_default_str();
}

std::string apply_runtime_options(const RuntimeOptions& options) {
  const std::string device = check_device(options.device);
  setup_threads(options.threads);
  return device;
}

}  // namespace lth::cli
