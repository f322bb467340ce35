#include "cli/train_options.h"

#include "cli/option_table.h"
#include "cli/options.h"
#include "core/step.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "core/json_fields.h"
#include "core/runtime.h"
#include "dist/process_group.h"
#include "train/dist.h"

namespace lth::cli {
namespace {

// The training options, each declared once: flag, --config key (the flag without "--", '_' for
// '-'), help, range or step rule. Order: the --help order and the order values are checked in.
OptionTable<TrainingConfig> make_training_table(bool with_task) {
  OptionTable<TrainingConfig> t;
  t.field("model", "Hugging Face checkpoint directory (weights + tokenizer)", [](auto& c) -> auto& { return c.model; });
  // Without a task (pretrain: --text only) --task and --data are config keys, not flags.
  auto& task = t.field("task", fmt::format("Task: {}", fmt::join(tasks::task_names(), ", ")), [](auto& c) -> auto& { return c.task; });
  if (!with_task) task.config_only();
  auto& data = t.field("data", "Data directory (the GLUE root or the task's folder)", [](auto& c) -> auto& { return c.task_options.data; });
  if (!with_task) data.config_only();
  t.field("text", "Raw text files or folders (masked LM)", [](auto& c) -> auto& { return c.task_options.texts; });
  t.field("out", "Output directory", [](auto& c) -> auto& { return c.out; });
  t.flag_only<int64_t>("--epochs", "Training length in epochs (sets --length to Nep)", 0,
                       [](TrainingConfig& c, const int64_t& n) { c.train.length = std::to_string(n) + "ep"; })
      .in_range(count(1, 1e6));
  t.flag_only<int64_t>("--steps", "Training length in optimizer steps (overrides --epochs)", 0,
                       [](TrainingConfig& c, const int64_t& n) { c.train.length = std::to_string(n) + "it"; })
      .in_range(count(1, 1e12));
  t.field("length", "Training length as a step: 3ep, 1000it, 1ep200it", [](auto& c) -> auto& { return c.train.length; })
      .default_shown().step(true);
  t.field("lr", "Peak learning rate (0 = no update: the weights stay as initialised)", [](auto& c) -> auto& { return c.train.lr; })
      .default_shown().in_range(non_negative_number());
  t.field("batch_size", "Examples per optimizer step (per micro-batch with --grad-accum)",
          [](auto& c) -> auto& { return c.train.batch_size; })
      .default_shown().in_range(count(1, 1 << 20));
  t.field("max_length", "Maximum sequence length in tokens", [](auto& c) -> auto& { return c.task_options.max_length; })
      .default_shown().in_range(count(2, 1 << 20));
  t.field("warmup", "Linear warmup length (step: 100it, 1ep)", [](auto& c) -> auto& { return c.train.warmup; })
      .default_shown().step(false);
  t.field("weight_decay", "AdamW weight decay (not on biases/LayerNorm)", [](auto& c) -> auto& { return c.train.weight_decay; })
      .default_shown().in_range(non_negative_number());
  t.field("max_grad_norm", "Gradient clipping norm (0 = off)", [](auto& c) -> auto& { return c.train.max_grad_norm; })
      .default_shown().in_range(non_negative_number());
  t.field("grad_accum", "Micro-batches accumulated per optimizer step", [](auto& c) -> auto& { return c.train.grad_accum; })
      .default_shown().in_range(count(1, 1 << 20));
  // Seeds are unsigned 64-bit; the range keeps them where a double (and JSON) holds them exactly.
  t.field("seed", "Seed for data order, dropout, heads and masking", [](auto& c) -> auto& { return c.train.seed; })
      .default_shown().in_range(count(0, 9007199254740992.0));
  t.field("eval_every",
          "Evaluate on the dev set every this many steps (a step: 200it, 1ep; 0 = only at the end of training; "
          "default: each epoch)",
          [](auto& c) -> auto& { return c.train.eval_every; })
      .step(false);
  t.field("save_every", "Resume checkpoint interval (0 = only on SIGINT/SIGTERM)", [](auto& c) -> auto& { return c.train.save_every; })
      .default_shown().step(false);
  t.field("precision",
          "auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16 (CPU autocast, fp32 master weights)",
          [](auto& c) -> auto& { return c.train.precision; })
      .default_shown().one_of({"auto", "fp32", "bf16"});
  t.field("pad_to_max_length", "Pad every batch to --max-length (default: dynamic padding)",
          [](auto& c) -> auto& { return c.pad_to_max_length; });
  t.field("group_by_length", "Length-grouped batches (--no-group-by-length: plain shuffled ones)",
          [](auto& c) -> auto& { return c.train.group_by_length; })
      .flag("--group-by-length,!--no-group-by-length");
  t.field("sparse_training",
          "Masked runs on the CPU: auto (matrices pruned past the measured crossover train sparse), on (every "
          "masked matrix) or off (dense masked products)",
          [](auto& c) -> auto& { return c.train.sparse_training; })
      .default_shown().one_of({"auto", "on", "off"});
  t.field("save_models", "Write model checkpoints (--no-save-models: metrics only)",
          [](auto& c) -> auto& { return c.train.save_models; })
      .flag("--save-models,!--no-save-models");
  t.field("max_train_examples", "Use at most N training examples (0 = all)",
          [](auto& c) -> auto& { return c.task_options.max_train_examples; })
      .default_shown().in_range(count(0, 1e12));
  t.field("mlm_probability", "MLM: share of tokens masked", [](auto& c) -> auto& { return c.task_options.mlm_probability; })
      .config_only().in_range(fraction_open_closed());
  t.field("train_file", "Training file (overrides the one --data gives)", [](auto& c) -> auto& { return c.task_options.train_file; })
      .flag("--train-file,--train");
  t.field("dev_file", "Dev file (overrides the one --data gives)", [](auto& c) -> auto& { return c.task_options.dev_file; })
      .flag("--dev-file,--dev");
  t.field("whole_word_masking", "MLM: mask whole words", [](auto& c) -> auto& { return c.task_options.whole_word_masking; });
  t.flag_only<bool>("--profile",
                    "Log the share of training time per phase (data, forward, backward, clip/mask, optimizer, eval, "
                    "checkpoint); not a setting of the run",
                    false, [](TrainingConfig& c, const bool& on) { c.train.profile = on; });
  t.flag_only<std::string>("--profile-ops",
                           "Write the training steps' time per LibTorch operator (calls and self time per step, "
                           "Markdown; evaluations during training included) to FILE (a command that trains several runs: the last "
                           "run's); not a setting of the run",
                           "", [](TrainingConfig& c, const std::string& file) { c.train.profile_ops = file; })
      .type("FILE");
  t.field("threads", "Intra-op threads (0 = all available cores)", [](auto& c) -> auto& { return c.runtime.threads; })
      .default_shown().in_range(threads_range());
  t.field("device", "cpu, cuda or cuda:N", [](auto& c) -> auto& { return c.runtime.device; }).default_shown();
  return t;
}

const OptionTable<TrainingConfig>& training_table() {
  static const OptionTable<TrainingConfig> table = make_training_table(true);
  return table;
}

}  // namespace

nlohmann::json TrainingConfig::to_json() const {
  nlohmann::json j = training_table().to_json(*this);
  // Data parallelism changes the global batch (batch_size x world), so the world is part of a run.
  if (train.dist) j["world_size"] = train.dist->world_size();
  return j;
}

void TrainingConfig::merge_json(const nlohmann::json& j, const std::string& source, const BoundOptions* more) {
  JsonFields fields(j, source);
  training_table().read(*this, fields);
  if (more != nullptr) more->read(fields);
  int world_size = 1;  // the world comes from the launcher, not from a config file
  fields.take("world_size", world_size);
  fields.reject_unknown();
}

std::function<bool()> add_training_options(CLI::App& cmd, std::shared_ptr<TrainingConfig> cfg, bool with_task,
                                           const std::function<BoundOptions(CLI::App&)>& more) {
  // Flags bind to a scratch copy; only those given on the command line override --config.
  auto table = std::make_shared<const OptionTable<TrainingConfig>>(make_training_table(with_task));
  auto flags = std::make_shared<TrainingConfig>(*cfg);
  auto given = std::make_shared<OptionTable<TrainingConfig>::Added>(table->add_flags(cmd, *flags));
  cmd.add_flag("--force", cfg->force,
               "Reuse --out even when it holds a run with other settings: that run is deleted and this one starts "
               "afresh (without --force such a run is refused, naming the settings that differ)");
  auto dist_options = std::make_shared<dist::DistOptions>();
  auto* dist_group = cmd.add_option_group("Data parallelism", "One process per worker (see lth launch, docs/SCALING.md)");
  dist_group->add_option("--dist-init", dist_options->init, "Rendezvous: tcp://HOST:PORT (default: MASTER_ADDR/MASTER_PORT)");
  dist_group->add_option("--rank", dist_options->rank, "This worker's rank (default: $RANK)")->check(in_range(count(0, 1 << 20)));
  dist_group->add_option("--world-size", dist_options->world_size, "Number of workers (default: $WORLD_SIZE, else 1)")
      ->check(in_range(count(1, 1 << 20)));
  dist_group->add_option("--dist-backend", dist_options->backend, "auto, gloo or nccl")->capture_default_str();
  dist_group->add_option("--dist-timeout", dist_options->timeout_seconds, "Seconds to wait for the other workers")
      ->capture_default_str()
      ->check(in_range(positive_number()));
  auto config_file = std::make_shared<std::string>();
  auto dump = std::make_shared<bool>(false);
  cmd.add_option("--config", *config_file, "JSON config file (flags given on the command line override it)");
  cmd.add_flag("--dump-config", *dump, "Print the resolved config as JSON and exit");
  auto extra = more ? std::make_shared<BoundOptions>(more(cmd)) : nullptr;

  return [cfg, table, flags, given, config_file, dump, dist_options, extra] {
    // Anything wrong inside a --config file (unknown key, wrong type, out of range) is exit 1 naming
    // the file and the key; the same value given as a flag is a usage error (exit 2).
    if (!config_file->empty()) cfg->merge_json(read_json_file(*config_file), *config_file, extra.get());
    table->merge_flags(*cfg, *flags, *given);
    if (extra) extra->merge_flags();
    // Every number and step checked before anything is read or written.
    table->check(*cfg, *given, *config_file);
    if (extra) extra->check(*config_file);
    cfg->train.pad_to = cfg->pad_to_max_length ? cfg->task_options.max_length : 0;
    if (*dump) {
      nlohmann::json resolved = cfg->to_json();
      if (extra) resolved.update(extra->to_json());
      fmt::print("{}\n", resolved.dump(2));
      return false;
    }
    cfg->train.device = apply_runtime_options(cfg->runtime);
    cfg->train.precision = resolve_precision(cfg->train.precision, cfg->train.device);
    cfg->train.dist = dist::init_process_group(*dist_options, cfg->train.device);
    return true;
  };
}

}  // namespace lth::cli
