// Each cli/<verb>.cpp adds one subcommand to the app. A subcommand's callback builds a typed config
// from its options and calls one library entry point; main maps exceptions to exit codes.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace lth::cli {

// Options shared by the commands that compute: --threads, --device.
struct RuntimeOptions {
  int threads = 0;  // 0 = all available cores
  std::string device = "cpu";
};
void add_runtime_options(CLI::App& command, RuntimeOptions& options);
// Applies the options (threads, device check); returns the resolved device string.
std::string apply_runtime_options(const RuntimeOptions& options);

// Options of the commands that evaluate: --precision beside --threads and --device.
struct EvalRuntimeOptions {
  std::string precision = "auto";  // auto | fp32 | bf16
  RuntimeOptions runtime;
};
void add_eval_runtime_options(CLI::App& command, EvalRuntimeOptions& options);
// Applies them; sets `device` and `precision` (fp32 or bf16) to the resolved values.
void apply_eval_runtime_options(const EvalRuntimeOptions& options, std::string& device, std::string& precision);

void add_version_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_pretrain_command(CLI::App& app);
void add_prune_command(CLI::App& app);
void add_transfer_command(CLI::App& app);
void add_mask_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_mux_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_bench_command(CLI::App& app);
// `command`: the words after `--` as the shell gave them (main takes them out before CLI11 parses,
// which would split "[a,b]" into a list and drop brackets from "[unused{}]").
void add_launch_command(CLI::App& app, std::vector<std::string> command);
void add_plan_command(CLI::App& app);

}  // namespace lth::cli
