// lth bench: encoder (and Linear-layer) inference throughput, dense vs packed sparse weights at several
// sparsities, all variants measured side by side in one process, interleaved (A B C A B C ...).
// Options into prune::SparseBenchRun, one call (lib/prune/sparse_bench.h), its result printed.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "model/sparse_bench.h"
#include "prune/sparse_bench.h"

namespace lth::cli {
namespace {

struct BenchOptions {
  prune::SparseBenchRun run;
  bool json = false;
  RuntimeOptions runtime;
};

void run_bench(const BenchOptions& o) {
  apply_runtime_options(o.runtime);
  const nlohmann::json result = prune::run_sparse_bench(o.run);
  if (o.json) {
    fmt::print("{}\n", result.dump(2));
  } else {
    fmt::print("{}", model::render_sparse_bench(result, o.run.bench.linear_only));
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto cfg = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Encoder throughput, dense vs sparse weights: inference, or training steps with --train");
  cmd->add_option("--model", cfg->run.model, "Checkpoint directory, or bert-base / bert-tiny (random init of that shape)")
      ->capture_default_str();
  add_number(*cmd, "--sparsity", cfg->run.sparsity, "Sparsities of global magnitude masks over the prunable weights",
             fraction_closed_open())
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--run", cfg->run.run, "IMP run directory: benchmark its level_N/mask.safetensors instead of --sparsity");
  add_number(*cmd, "--batch", cfg->run.bench.batch, "Sequences per batch", count(1, 1 << 16))->capture_default_str();
  add_number(*cmd, "--seq-len", cfg->run.bench.seq_len, "Tokens per sequence", count(1, 1 << 16))->capture_default_str();
  add_number(*cmd, "--warmup", cfg->run.bench.warmup, "Untimed rounds first", count(0, 1e6))->capture_default_str();
  add_number(*cmd, "--reps", cfg->run.bench.reps, "Timed rounds (each runs every variant once)", count(1, 1e6))->capture_default_str();
  cmd->add_flag("--linear-only", cfg->run.bench.linear_only, "Time only the Linear layers, not the whole encoder");
  cmd->add_flag("--train", cfg->run.bench.train,
                "Time training steps (forward + backward) instead of inference: the dense masked path vs sparse training");
  cmd->add_flag("--pack-all", cfg->run.bench.pack_all, "Run every weight sparse, even above the measured crossover density");
  cmd->add_flag("--json", cfg->json, "One JSON object instead of tables");
  add_runtime_options(*cmd, cfg->runtime);
  cmd->callback([cfg] { run_bench(*cfg); });
}

}  // namespace lth::cli
