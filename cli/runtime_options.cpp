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

void add_eval_runtime_options(CLI::App& command, EvalRuntimeOptions& options) {
  command.add_option("--precision", options.precision, "auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  add_runtime_options(command, options.runtime);
}

void apply_eval_runtime_options(const EvalRuntimeOptions& options, std::string& device, std::string& precision) {
  device = apply_runtime_options(options.runtime);
  precision = resolve_precision(options.precision, device);
}

}  // namespace lth::cli
