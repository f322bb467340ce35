// lth mux train / eval / bench: multiplexed inference (DataMUX) on a dense or pruned BERT. Options
// into tasks/mux_run.h's typed configs, one library call per subcommand, and its output printed.
#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/option_table.h"
#include "cli/options.h"
#include "cli/train_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/runtime.h"
#include "mux/bench_report.h"
#include "tasks/mux_run.h"

namespace lth::cli {
namespace {

// lth mux's settings, declared once: --n ... --retrieval-fraction, the keys of config.json's "mux"
// section (and of --config's). `shape_only`: the multiplexer's shape and the mask (lth mux bench).
std::shared_ptr<const OptionTable<tasks::MuxSettings>> mux_table(bool shape_only) {
  auto t = std::make_shared<OptionTable<tasks::MuxSettings>>();
  if (!shape_only) {
    t->field("n", "Instances per forward pass", [](auto& o) -> auto& { return o.n; }).default_shown().in_range(count(1, 512));
  }
  t->field("mux", "Multiplexer: hadamard, ortho or binary", [](auto& o) -> auto& { return o.mux; })
      .default_shown()
      .one_of({"hadamard", "ortho", "binary"});
  t->field("demux", "Demultiplexer: mlp (one per instance), index (DataMUX's prefix tokens) or keys (learned)",
           [](auto& o) -> auto& { return o.demux; })
      .default_shown()
      .one_of({"mlp", "index", "keys"});
  t->field("pooling",
           "How a sequence-level head reads an instance: mean (its demultiplexed states over its own tokens) or "
           "first (its position 0, as DataMUX)",
           [](auto& o) -> auto& { return o.pooling; })
      .default_shown()
      .one_of({"mean", "first"});
  t->field("index_tokens", "Index demux prefix tokens as a format over 0..N ({0}: filler, {i}: instance i-1's index token)",
           [](auto& o) -> auto& { return o.index_tokens; })
      .default_shown();
  t->field("mask", "Ticket mask (mask.safetensors, tensors named by HF parameter keys)", [](auto& o) -> auto& { return o.mask; });
  if (shape_only) return t;
  t->field("hadamard_norm", "L2 norm of the Hadamard vectors (0 = sqrt(hidden))", [](auto& o) -> auto& { return o.hadamard_norm; })
      .default_shown().in_range(non_negative_number());
  t->field("warmup_steps", "Retrieval warm-up steps on --text (retrieval loss alone)", [](auto& o) -> auto& { return o.warmup_steps; })
      .default_shown().in_range(count(0, 1e12));
  t->field("warmup_lr", "Warm-up peak learning rate", [](auto& o) -> auto& { return o.warmup_lr; })
      .default_shown().in_range(positive_number());
  t->field("warmup_batch_size", "Warm-up batch size (0 = --batch-size)", [](auto& o) -> auto& { return o.warmup_batch_size; })
      .default_shown().in_range(count(0, 1 << 20));
  t->field("warmup_eval_every",
           "Measure retrieval on held-out text every this many warm-up steps (a step: 500it; 0 = only at the end; "
           "default: ten times)",
           [](auto& o) -> auto& { return o.warmup_eval_every; })
      .step(false);
  t->field("task_weight", "Weight of the task loss in fine-tuning", [](auto& o) -> auto& { return o.task_weight; })
      .default_shown().in_range(non_negative_number());
  t->field("retrieval_weight", "Weight of the retrieval loss in fine-tuning", [](auto& o) -> auto& { return o.retrieval_weight; })
      .default_shown().in_range(non_negative_number());
  t->field("retrieval_fraction",
           "Share of positions the retrieval loss scores while training (1 = all, as DataMUX; less is cheaper)",
           [](auto& o) -> auto& { return o.retrieval_fraction; })
      .default_shown().in_range(Range{1e-6, 1.0});
  return t;
}

void run_mux_train(const TrainingConfig& cfg, const tasks::MuxSettings& mo, const OptionTable<tasks::MuxSettings>& table) {
  nlohmann::json resolved = cfg.to_json();
  resolved["mux"] = table.to_json(mo);
  tasks::MuxTrainRun run{cfg.model, cfg.task, cfg.out, cfg.train, cfg.task_options, mo,
                         cfg.force, resolved};
  fmt::print("{}\n", tasks::run_mux_train(run).dump());
}

struct MuxEvalOptions {
  tasks::MuxEvalRun run;
  EvalRuntimeOptions runtime;
};

void run_mux_eval(MuxEvalOptions o) {
  apply_eval_runtime_options(o.runtime, o.run.device, o.run.precision);
  fmt::print("{}\n", tasks::run_mux_eval(o.run).dump());
}

struct MuxBenchOptions {
  tasks::MuxBenchRun run;
  bool json = false;
  std::string out;  // also write the JSON here (atomically): lth report's multiplexing input
  RuntimeOptions runtime;
};

void run_mux_bench(const MuxBenchOptions& o) {
  apply_runtime_options(o.runtime);
  if (!o.out.empty()) {  // before the bench, not after it
    const auto parent = std::filesystem::path(o.out).parent_path();
    LTH_CHECK(parent.empty() || std::filesystem::is_directory(parent), UsageError,
              "--out {}: the directory {} does not exist", o.out, parent.string());
  }
  const auto report = tasks::run_mux_bench(o.run);
  const auto json = o.json || !o.out.empty() ? mux::bench_json(report) : nlohmann::json();
  if (!o.out.empty()) {
    write_file_atomic(o.out, json.dump(2) + "\n");
    log::info("mux", "wrote {}", o.out);
  }
  if (o.json) {
    fmt::print("{}\n", json.dump());
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
    const auto table = mux_table(false);
    auto resolve = add_training_options(*cmd, cfg, true, [table, mo](CLI::App& c) { return bind_options(c, table, mo, "mux"); });
    cmd->callback([cfg, mo, resolve, table] {
      if (resolve()) run_mux_train(*cfg, *mo, *table);
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
    add_eval_runtime_options(*cmd, cfg->runtime);
    cmd->callback([cfg] { run_mux_eval(*cfg); });
  }
  {
    auto cfg = std::make_shared<MuxBenchOptions>();
    auto* cmd = mux->add_subcommand("bench", "Instances/s per N, measured side by side (interleaved rounds, medians)");
    cmd->add_option("--model", cfg->run.model, "Checkpoint directory, or bert-base / bert-tiny (random weights)")
        ->capture_default_str();
    add_number(*cmd, "--n", cfg->run.ns, "Values of N", count(1, 512))->delimiter(',')->capture_default_str();
    cmd->add_option("--runs", cfg->run.runs,
                    "Trained lth mux run directories: each run's own configuration (N, mux, demux, pooling, mask) is timed "
                    "too, and an accuracy × throughput table added");
    add_number(*cmd, "--seq-len", cfg->run.bench.seq_len, "Tokens per instance", count(1, 1 << 16))->capture_default_str();
    add_number(*cmd, "--batch", cfg->run.bench.batch, "Encoder sequences per forward pass (instances = batch × N)",
               count(1, 1 << 16))
        ->capture_default_str();
    add_number(*cmd, "--rounds", cfg->run.bench.rounds, "Interleaved repetitions (median taken)", count(1, 1e6))
        ->capture_default_str();
    cmd->add_flag("--json", cfg->json, "Print one JSON object");
    cmd->add_option("--out", cfg->out, "Also write the JSON object to this file (atomically; lth report reads it)");
    mux_table(true)->add_flags(*cmd, cfg->run.mux);  // no --config here: the flags bind directly
    add_runtime_options(*cmd, cfg->runtime);
    cmd->callback([cfg] { run_mux_bench(*cfg); });
  }
}

}  // namespace lth::cli
