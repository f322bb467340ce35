#include "cli/train_options.h"

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
nlohmann::json TrainingConfig::to_json() const {
  nlohmann::json j = {{"model", model},
          {"task", task},
          {"data", data},
          {"text", texts},
          {"out", out},
          {"length", train.length},
          {"lr", train.lr},
          {"batch_size", train.batch_size},
          {"warmup", train.warmup},
          {"weight_decay", train.weight_decay},
          {"max_grad_norm", train.max_grad_norm},
          {"grad_accum", train.grad_accum},
          {"seed", train.seed},
          {"eval_every", train.eval_every},
          {"save_every", train.save_every},
          {"precision", train.precision},
          {"group_by_length", train.group_by_length},
          {"pad_to_max_length", train.pad_to > 0},
          {"save_models", train.save_models},
          {"max_length", task_options.max_length},
          {"max_train_examples", task_options.max_train_examples},
          {"mlm_probability", task_options.mlm_probability},
          {"whole_word_masking", task_options.whole_word_masking},
          {"train_file", task_options.train_file},
          {"dev_file", task_options.dev_file},
          {"threads", runtime.threads},
          {"device", runtime.device}};
  // Data parallelism changes the global batch (batch_size x world), so the world is part of a run.
  if (train.dist) j["world_size"] = train.dist->world_size();
  return j;
}

void TrainingConfig::merge_json(const nlohmann::json& j, const std::string& source) {
  JsonFields fields(j, source);
  fields.take("model", model);
  fields.take("task", task);
  fields.take("data", data);
  fields.take("text", texts);
  fields.take("out", out);
  fields.take("length", train.length);
  fields.take("lr", train.lr);
  fields.take("batch_size", train.batch_size);
  fields.take("warmup", train.warmup);
  fields.take("weight_decay", train.weight_decay);
  fields.take("max_grad_norm", train.max_grad_norm);
  fields.take("grad_accum", train.grad_accum);
  fields.take("seed", train.seed);
  fields.take("eval_every", train.eval_every);
  fields.take("save_every", train.save_every);
  fields.take("precision", train.precision);
  fields.take("group_by_length", train.group_by_length);
  fields.take("save_models", train.save_models);
  bool pad = train.pad_to > 0;
  fields.take("pad_to_max_length", pad);
  fields.take("max_length", task_options.max_length);
  train.pad_to = pad ? task_options.max_length : 0;
  fields.take("max_train_examples", task_options.max_train_examples);
  fields.take("mlm_probability", task_options.mlm_probability);
  fields.take("whole_word_masking", task_options.whole_word_masking);
  fields.take("train_file", task_options.train_file);
  fields.take("dev_file", task_options.dev_file);
  fields.take("threads", runtime.threads);
  fields.take("device", runtime.device);
  int world_size = 1;  // the world comes from the launcher, not from a config file
  fields.take("world_size", world_size);
  fields.reject_unknown();
}

std::function<bool()> add_training_options(CLI::App& cmd, std::shared_ptr<TrainingConfig> cfg, bool with_task) {
  // Flags bind to a scratch copy; only those given on the command line override --config.
  auto flags = std::make_shared<TrainingConfig>(*cfg);
  auto config_file = std::make_shared<std::string>();
  auto dump = std::make_shared<bool>(false);
  auto epochs = std::make_shared<int64_t>(0);
  auto steps = std::make_shared<int64_t>(0);
  auto pad = std::make_shared<bool>(false);
  auto no_group = std::make_shared<bool>(false);
  auto no_save = std::make_shared<bool>(false);
  std::vector<std::pair<CLI::Option*, std::function<void()>>> appliers;
  // The options table's second half: after --config and the flags are merged, every numeric and
  // step-valued field is checked against the range declared with its option, so a bad value from
  // a config file fails the same way as the flag (the message names the file and its key).
  struct Check {
    CLI::Option* opt;
    std::string key;
    std::function<void(const std::string& name, const std::string& source)> run;
  };
  auto checks = std::make_shared<std::vector<Check>>();
  auto bind = [&](CLI::Option* opt, std::function<void()> apply) { appliers.emplace_back(opt, std::move(apply)); return opt; };
  TrainingConfig& f = *flags;
  TrainingConfig& c = *cfg;
  // A numeric option: its range is declared here, once, for the flag and for the config key.
  auto number = [&](const std::string& name, const std::string& key, auto& flag_field, auto& cfg_field,
                    const std::string& description, const Range& range) {
    auto* opt = add_number(cmd, name, flag_field, description, range)->capture_default_str();
    bind(opt, [&cfg_field, &flag_field] { cfg_field = flag_field; });
    checks->push_back({opt, key, [&cfg_field, range](const std::string& n, const std::string& source) {
                         check_range(n, static_cast<double>(cfg_field), range, source);
                       }});
    return opt;
  };
  // A step-valued option (3ep, 100it): parsed while checking; `nonzero` for lengths.
  auto step_check = [&](CLI::Option* opt, const std::string& key, std::string& cfg_field, bool nonzero) {
    checks->push_back({opt, key, [&cfg_field, nonzero](const std::string& n, const std::string& source) {
                         if (cfg_field.empty()) return;  // the default (eval_every: each epoch)
                         Step step;
                         try {
                           step = Step::parse(cfg_field);
                         } catch (const UsageError& e) {
                           if (source.empty()) throw UsageError(n + ": " + e.what());
                           throw ConfigError(source + ": " + n + ": " + e.what());
                         }
                         if (nonzero && step.is_zero()) {
                           if (source.empty()) throw UsageError(fmt::format("{} must be more than zero steps (got {})", n, cfg_field));
                           throw ConfigError(fmt::format("{}: {} must be more than zero steps (got {})", source, n, cfg_field));
                         }
                       }});
  };
  bind(cmd.add_option("--model", f.model, "Hugging Face checkpoint directory (weights + tokenizer)"), [&c, &f] { c.model = f.model; });
  if (with_task) {
    bind(cmd.add_option("--task", f.task, fmt::format("Task: {}", fmt::join(tasks::task_names(), ", "))),
         [&c, &f] { c.task = f.task; });
    bind(cmd.add_option("--data", f.data, "Data directory (the GLUE root or the task's folder)"), [&c, &f] { c.data = f.data; });
  }
  bind(cmd.add_option("--text", f.texts, "Raw text files or folders (masked LM)"), [&c, &f] { c.texts = f.texts; });
  bind(cmd.add_option("--out", f.out, "Output directory"), [&c, &f] { c.out = f.out; });
  bind(add_number(cmd, "--epochs", *epochs, "Training length in epochs", count(1, 1e6))->capture_default_str(),
       [&c, epochs] { c.train.length = std::to_string(*epochs) + "ep"; });
  bind(add_number(cmd, "--steps", *steps, "Training length in optimizer steps (overrides --epochs)", count(1, 1e12)),
       [&c, steps] { c.train.length = std::to_string(*steps) + "it"; });
  step_check(bind(cmd.add_option("--length", f.train.length, "Training length as a step: 3ep, 1000it, 1ep200it")->capture_default_str(),
                  [&c, &f] { c.train.length = f.train.length; }),
             "length", c.train.length, true);
  number("--lr", "lr", f.train.lr, c.train.lr, "Peak learning rate (0 = no update: the weights stay as initialised)", non_negative_number());
  number("--batch-size", "batch_size", f.train.batch_size, c.train.batch_size,
         "Examples per optimizer step (per micro-batch with --grad-accum)", count(1, 1 << 20));
  number("--max-length", "max_length", f.task_options.max_length, c.task_options.max_length,
         "Maximum sequence length in tokens", count(2, 1 << 20));
  step_check(bind(cmd.add_option("--warmup", f.train.warmup, "Linear warmup length (step: 100it, 1ep)")->capture_default_str(),
                  [&c, &f] { c.train.warmup = f.train.warmup; }),
             "warmup", c.train.warmup, false);
  number("--weight-decay", "weight_decay", f.train.weight_decay, c.train.weight_decay,
         "AdamW weight decay (not on biases/LayerNorm)", non_negative_number());
  number("--max-grad-norm", "max_grad_norm", f.train.max_grad_norm, c.train.max_grad_norm, "Gradient clipping norm (0 = off)",
         non_negative_number());
  number("--grad-accum", "grad_accum", f.train.grad_accum, c.train.grad_accum, "Micro-batches accumulated per optimizer step",
         count(1, 1 << 20));
  // Seeds are unsigned 64-bit; the range keeps them where a double (and JSON) holds them exactly.
  auto* seed = number("--seed", "seed", f.train.seed, c.train.seed, "Seed for data order, dropout, heads and masking",
                      count(0, 9007199254740992.0));
  bind(seed, [&c, &f] { c.train.seed = f.train.seed; c.task_options.seed = f.train.seed; });
  step_check(bind(cmd.add_option("--eval-every", f.train.eval_every,
                                 "Evaluate on the dev set every this many steps (a step: 200it, 1ep; 0 = only at the "
                                 "end of training; default: each epoch)"),
                  [&c, &f] { c.train.eval_every = f.train.eval_every; }),
             "eval_every", c.train.eval_every, false);
  step_check(bind(cmd.add_option("--save-every", f.train.save_every, "Resume checkpoint interval (0 = only on SIGINT/SIGTERM)")
                      ->capture_default_str(),
                  [&c, &f] { c.train.save_every = f.train.save_every; }),
             "save_every", c.train.save_every, false);
  bind(cmd.add_option("--precision", f.train.precision,
                      "auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16 (CPU autocast, fp32 master weights)")
           ->capture_default_str()
           ->check(CLI::IsMember({"auto", "fp32", "bf16"})),
       [&c, &f] { c.train.precision = f.train.precision; c.task_options.precision = f.train.precision; });
  bind(cmd.add_flag("--pad-to-max-length", *pad, "Pad every batch to --max-length (default: dynamic padding)"),
       [&c, pad] { c.train.pad_to = *pad ? 1 : 0; });
  bind(cmd.add_flag("--no-group-by-length", *no_group, "Plain shuffled batches instead of length-grouped ones"),
       [&c, no_group] { c.train.group_by_length = !*no_group; });
  bind(cmd.add_flag("--no-save-models", *no_save, "Do not write model checkpoints (metrics only)"),
       [&c, no_save] { c.train.save_models = !*no_save; });
  number("--max-train-examples", "max_train_examples", f.task_options.max_train_examples, c.task_options.max_train_examples,
         "Use at most N training examples (0 = all)", count(0, 1e12));
  // Config-only numbers share the table.
  checks->push_back({nullptr, "mlm_probability", [&c](const std::string& n, const std::string& source) {
                       check_range(n, c.task_options.mlm_probability, fraction_open_closed(), source);
                     }});
  bind(cmd.add_option("--train", f.task_options.train_file, "Training file (overrides the one --data gives)"),
       [&c, &f] { c.task_options.train_file = f.task_options.train_file; });
  bind(cmd.add_option("--dev", f.task_options.dev_file, "Dev file (overrides the one --data gives)"),
       [&c, &f] { c.task_options.dev_file = f.task_options.dev_file; });
  bind(cmd.add_flag("--whole-word-masking", f.task_options.whole_word_masking, "MLM: mask whole words"),
       [&c, &f] { c.task_options.whole_word_masking = f.task_options.whole_word_masking; });
  bind(cmd.add_flag("--profile", f.train.profile, "Log the share of training time per phase (data, forward, backward, "
                                                 "clip/mask, optimizer, eval, checkpoint)"),
       [&c, &f] { c.train.profile = f.train.profile; });
  number("--threads", "threads", f.runtime.threads, c.runtime.threads, "Intra-op threads (0 = all available cores)",
         threads_range());
  bind(cmd.add_option("--device", f.runtime.device, "cpu, cuda or cuda:N")->capture_default_str(),
       [&c, &f] { c.runtime.device = f.runtime.device; });
  cmd.add_flag("--force", c.force,
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
  cmd.add_option("--config", *config_file, "JSON config file (flags given on the command line override it)");
  cmd.add_flag("--dump-config", *dump, "Print the resolved config as JSON and exit");

  return [cfg, flags, config_file, dump, appliers, checks, dist_options] {
    // Anything wrong inside a --config file (unknown key, wrong type, out of range) is exit 1 naming
    // the file and the key; the same value given as a flag is a usage error (exit 2).
    if (!config_file->empty()) cfg->merge_json(read_json_file(*config_file), *config_file);
    for (const auto& [opt, apply] : appliers) {
      if (opt->count() > 0) apply();
    }
    // Every number checked before anything is read or written (a flag names itself; a value from
    // --config names the file and its key).
    for (const auto& check : *checks) {
      const bool from_flag = check.opt != nullptr && check.opt->count() > 0;
      if (from_flag || config_file->empty()) {
        check.run(check.opt ? check.opt->get_name() : check.key, "");
      } else {
        check.run(check.key, *config_file);
      }
    }
    if (cfg->train.pad_to > 0) cfg->train.pad_to = cfg->task_options.max_length;
    cfg->task_options.seed = cfg->train.seed;
    cfg->task_options.precision = cfg->train.precision;
    if (*dump) {
      fmt::print("{}\n", cfg->to_json().dump(2));
      return false;
    }
    cfg->train.device = apply_runtime_options(cfg->runtime);
    cfg->train.precision = resolve_precision(cfg->train.precision, cfg->train.device);
    cfg->task_options.precision = cfg->train.precision;
    cfg->train.dist = dist::init_process_group(*dist_options, cfg->train.device);
    cfg->task_options.device = cfg->train.device;
    return true;
  };
}

}  // namespace lth::cli
