// lth mux train / eval / bench: multiplexed inference (DataMUX) on a dense or pruned BERT. Options
// into tasks/mux_run.h's typed configs, one library call per subcommand, and its output printed.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/train_options.h"
#include "core/runtime.h"
#include "mux/bench_report.h"
#include "tasks/mux_run.h"

namespace lth::cli {
namespace {

void add_mux_shape_options(CLI::App& cmd, tasks::MuxSettings& o) {
  cmd.add_option("--mux", o.mux, "Multiplexer: hadamard, ortho or binary")
      ->capture_default_str()
      ->check(CLI::IsMember({"hadamard", "ortho", "binary"}));
  cmd.add_option("--demux", o.demux, "Demultiplexer: index (prefix tokens), keys (learned) or mlp (per instance)")
      ->capture_default_str()
      ->check(CLI::IsMember({"index", "keys", "mlp"}));
  cmd.add_option("--index-tokens", o.index_tokens,
                 "Index demux prefix tokens as a format over 0..N ({0}: filler, {i}: instance i-1's index token)")
      ->capture_default_str();
  cmd.add_option("--mask", o.mask, "Ticket mask (mask.safetensors, tensors named by HF parameter keys)");
}

void run_mux_train(const TrainingConfig& cfg, const tasks::MuxSettings& mo) {
  tasks::MuxTrainRun run{cfg.model, cfg.task, cfg.task_options.data, cfg.out, cfg.task_options.texts, cfg.train, cfg.task_options, mo,
                         cfg.force, cfg.to_json()};
  fmt::print("{}\n", tasks::run_mux_train(run).dump());
}

struct MuxEvalOptions {
  tasks::MuxEvalRun run;
  std::string precision = "auto";
  RuntimeOptions runtime;
};

void run_mux_eval(MuxEvalOptions o) {
  o.run.device = apply_runtime_options(o.runtime);
  o.run.precision = resolve_precision(o.precision, o.run.device);
  fmt::print("{}\n", tasks::run_mux_eval(o.run).dump());
}

struct MuxBenchOptions {
  tasks::MuxBenchRun run;
  bool json = false;
  RuntimeOptions runtime;
};

void run_mux_bench(const MuxBenchOptions& o) {
  apply_runtime_options(o.runtime);
  const auto report = tasks::run_mux_bench(o.run);
  if (o.json) {
    fmt::print("{}\n", mux::bench_json(report).dump());
  } else {
    fmt::print("{}", mux::render_bench(report));
  }
}

}  // namespace

void add_mux_command(CLI::App& app) {
  auto* mux = app.add_subcommand("mux", "Data multiplexing: N inputs per forward pass through a (pruned) BERT");
  mux->require_subcommand(1);

  {
    auto cfg = std::make_shared<TrainingConfig>();
    cfg->train.length = "3ep";
    auto mo = std::make_shared<tasks::MuxSettings>();
    auto* cmd = mux->add_subcommand("train", "Retrieval warm-up on raw text, then task fine-tuning at N inputs per pass");
    auto resolve = add_training_options(*cmd, cfg);
    cmd->add_option("--n", mo->n, "Instances per forward pass")->capture_default_str()->check(CLI::Range(1, 512));
    add_mux_shape_options(*cmd, *mo);
    add_number(*cmd, "--hadamard-norm", mo->hadamard_norm, "L2 norm of the Hadamard vectors (0 = sqrt(hidden))",
               non_negative_number())
        ->capture_default_str();
    add_number(*cmd, "--warmup-steps", mo->warmup_steps, "Retrieval warm-up steps on --text (retrieval loss alone)",
               count(0, 1e12))
        ->capture_default_str();
    add_number(*cmd, "--warmup-lr", mo->warmup_lr, "Warm-up peak learning rate", positive_number())->capture_default_str();
    add_number(*cmd, "--warmup-batch-size", mo->warmup_batch_size, "Warm-up batch size (0 = --batch-size)",
               count(0, 1 << 20))
        ->capture_default_str();
    add_number(*cmd, "--task-weight", mo->task_weight, "Weight of the task loss in fine-tuning", non_negative_number())
        ->capture_default_str();
    add_number(*cmd, "--retrieval-weight", mo->retrieval_weight, "Weight of the retrieval loss in fine-tuning",
               non_negative_number())
        ->capture_default_str();
    add_number(*cmd, "--retrieval-fraction", mo->retrieval_fraction,
               "Share of positions the retrieval loss scores while training (1 = all, as DataMUX; less is cheaper)",
               Range{1e-6, 1.0})
        ->capture_default_str();
    cmd->callback([cfg, mo, resolve] {
      if (resolve()) run_mux_train(*cfg, *mo);
    });
  }
  {
    auto cfg = std::make_shared<MuxEvalOptions>();
    auto* cmd = mux->add_subcommand("eval", "Evaluate a multiplexed model; prints one JSON line (with n, retrieval_accuracy)");
    cmd->add_option("--model", cfg->run.model, "lth mux train run directory, or a model directory with mux_config.json")
        ->required();
    cmd->add_option("--task", cfg->run.task, "GLUE task or ner/conll2003 (default: the run's)");
    cmd->add_option("--data", cfg->run.data, "Data directory (default: the run's)");
    cmd->add_option("--split", cfg->run.split, "Split (default: the task's dev split)");
    cmd->add_option("--dev", cfg->run.dev_file, "Evaluate this TSV file instead of the split's file");
    cmd->add_option("--text", cfg->run.texts, "Raw text: measure retrieval accuracy only");
    add_number(*cmd, "--max-length", cfg->run.max_length, "Maximum sequence length (default: the run's)", count(0, 1 << 20));
    add_number(*cmd, "--batch-size", cfg->run.batch_size, "Rows per forward pass (rounded up to a multiple of N)",
               count(1, 1 << 16))
        ->capture_default_str();
    cmd->add_option("--precision", cfg->precision, "auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
    add_runtime_options(*cmd, cfg->runtime);
    cmd->callback([cfg] { run_mux_eval(*cfg); });
  }
  {
    auto cfg = std::make_shared<MuxBenchOptions>();
    auto* cmd = mux->add_subcommand("bench", "Instances/s per N, measured side by side (interleaved rounds, medians)");
    cmd->add_option("--model", cfg->run.model, "Checkpoint directory, or bert-base / bert-tiny (random weights)")
        ->capture_default_str();
    add_number(*cmd, "--n", cfg->run.ns, "Values of N", count(1, 512))->delimiter(',')->capture_default_str();
    cmd->add_option("--runs", cfg->run.runs, "Trained lth mux run directories: adds an accuracy × throughput table");
    add_number(*cmd, "--seq-len", cfg->run.bench.seq_len, "Tokens per instance", count(1, 1 << 16))->capture_default_str();
    add_number(*cmd, "--batch", cfg->run.bench.batch, "Encoder sequences per forward pass (instances = batch × N)",
               count(1, 1 << 16))
        ->capture_default_str();
    add_number(*cmd, "--rounds", cfg->run.bench.rounds, "Interleaved repetitions (median taken)", count(1, 1e6))
        ->capture_default_str();
    cmd->add_flag("--json", cfg->json, "Print one JSON object");
    add_mux_shape_options(*cmd, cfg->run.mux);
    add_runtime_options(*cmd, cfg->runtime);
    cmd->callback([cfg] { run_mux_bench(*cfg); });
  }
}

}  // namespace lth::cli
