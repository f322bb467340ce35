// lth mux train / eval / bench: multiplexed inference (DataMUX) on a dense or pruned BERT. Builds
// typed configs and calls lib/mux; the GLUE glue (reading, featurising, metrics) lives here because
// lib/ may not include tasks/.
#include <algorithm>
#include <filesystem>
#include <set>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/hash.h"
#include "core/run_identity.h"
#include "prune/mask.h"
#include "cli/train_options.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/runtime.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "mux/bench.h"
#include "mux/mux_model.h"
#include "mux/mux_train.h"
#include "tasks/common/metrics.h"
#include "tasks/glue/glue.h"
#include "tasks/task.h"
#include "tokenize/tokenizer.h"

namespace lth::cli {
namespace {

struct MuxOptions {
  int64_t n = 2;
  std::string mux = "hadamard";
  std::string demux = "index";
  std::string index_tokens = "[unused{}]";
  double hadamard_norm = 0.0;
  std::string mask;
  int64_t warmup_steps = 0;
  double warmup_lr = 1e-4;
  int64_t warmup_batch_size = 0;
  double task_weight = 0.9;
  double retrieval_weight = 0.1;
  double retrieval_fraction = 1.0;

  nlohmann::json to_json() const {
    return {{"n", n}, {"mux", mux}, {"demux", demux}, {"index_tokens", index_tokens}, {"hadamard_norm", hadamard_norm},
            {"mask", mask}, {"warmup_steps", warmup_steps}, {"warmup_lr", warmup_lr},
            {"warmup_batch_size", warmup_batch_size}, {"task_weight", task_weight},
            {"retrieval_weight", retrieval_weight}, {"retrieval_fraction", retrieval_fraction}};
  }
};

void add_mux_shape_options(CLI::App& cmd, MuxOptions& o) {
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

mux::MuxConfig mux_config(const MuxOptions& o, uint64_t seed) {
  mux::MuxConfig c;
  c.n = o.n;
  c.mux = mux::mux_kind_from_name(o.mux);
  c.demux = mux::demux_kind_from_name(o.demux);
  c.hadamard_norm = o.hadamard_norm;
  c.seed = seed;
  c.index_token_format = o.index_tokens;
  return c;
}

// The ticket mask, read and checked as every other verb does (prune::load_mask: U8/BOOL tensors
// of 0/1 only; check_mask_fits: every name and shape matches the model's parameters).
train::MaskMap read_mask(const std::string& path, model::Bert& bert) {
  train::MaskMap masks;
  if (path.empty()) return masks;
  const prune::Mask mask = prune::load_mask(path);
  prune::NamedTensors params;
  for (auto& item : bert->named_parameters()) params[item.key()] = item.value();
  std::vector<std::string> names;
  for (const auto& [n, t] : mask.tensors) {
    if (params.count(n)) names.push_back(n);  // names the model lacks: check_mask_fits lists them
  }
  prune::check_mask_fits(mask, params, path, prune::fingerprint(params, names));
  for (const auto& [name, t] : mask.tensors) masks[name] = t.to(torch::kFloat32);
  LTH_CHECK(!masks.empty(), IoError, "{}: holds no mask tensors", path);
  log::info("mux", "mask {}: {} tensors", path, masks.size());
  return masks;
}

// Sequence length that fits the position table after the index demux's prefix.
int64_t fitting_length(const model::BertConfig& config, int64_t max_length, int64_t prefix) {
  const int64_t cap = config.max_position_embeddings - prefix;
  LTH_CHECK(cap >= 3, UsageError, "the model's {} positions leave no room after {} prefix positions",
            config.max_position_embeddings, prefix);
  if (max_length > cap) {
    log::warn("mux", "--max-length {} + {} prefix positions exceed max_position_embeddings {}: using {}", max_length,
              prefix, config.max_position_embeddings, cap);
    return cap;
  }
  return max_length;
}

// A GLUE split read and featurised in file order (labels kept for the metrics).
struct GlueSplit {
  const tasks::glue::TaskSpec* spec = nullptr;
  std::vector<tasks::glue::Example> examples;
  std::vector<train::Feature> features;
};

GlueSplit read_glue(const std::string& task, const std::string& data, const std::string& split,
                    const std::string& file, const tokenize::Tokenizer& tok, int64_t max_length) {
  GlueSplit s;
  s.spec = &tasks::glue::find_task(task);
  const auto& spec = *s.spec;
  if (!file.empty()) {
    s.examples = tasks::glue::read_tsv(spec, spec.split(split), file);
  } else {
    LTH_CHECK(!data.empty(), UsageError, "--data is required (or --dev FILE)");
    const std::string own = data + "/" + spec.split(split).file;
    s.examples = path_exists(own) ? tasks::glue::read_tsv(spec, spec.split(split), own)
                                  : tasks::glue::read_split(spec, split, data);
  }
  tokenize::EncodeOptions enc;
  enc.max_length = static_cast<int>(max_length);
  for (const auto& e : s.examples) {
    const auto encoding = tok.encode(e.text_a, e.text_b ? &*e.text_b : nullptr, enc);
    train::Feature f;
    f.input_ids.assign(encoding.input_ids.begin(), encoding.input_ids.end());
    f.token_type_ids.assign(encoding.token_type_ids.begin(), encoding.token_type_ids.end());
    s.features.push_back(std::move(f));
  }
  return s;
}

nlohmann::json evaluate_glue(mux::MuxBert& model, const GlueSplit& s, int64_t pad_id, int64_t batch_size,
                             const std::string& precision, const std::string& device) {
  const auto& spec = *s.spec;
  const size_t count = s.examples.size();
  std::vector<int> predicted(count, -1);
  std::vector<double> scores(count, 0.0);
  std::vector<int> seen(count, 0);
  const auto stats = mux::predict_mux(
      model, s.features, pad_id, batch_size, precision, device, /*retrieval=*/true,
      [&](const std::vector<int64_t>& indices, const model::BertOutputs& out) {
        auto logits = out.logits.to(torch::kCPU, torch::kFloat32);
        for (size_t r = 0; r < indices.size(); ++r) {
          const auto i = static_cast<size_t>(indices[r]);
          ++seen[i];
          if (spec.is_regression) {
            scores[i] = logits[static_cast<int64_t>(r)][0].item<double>();
          } else {
            predicted[i] = static_cast<int>(logits[static_cast<int64_t>(r)].argmax().item<int64_t>());
          }
        }
      });
  LTH_CHECK(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }), Error,
            "internal: not every example was predicted exactly once");
  nlohmann::json j = {{"task", spec.name},
                      {"split", "dev"},
                      {"examples", stats.examples},
                      {"n", model->n()},
                      {"retrieval_accuracy", stats.retrieval_accuracy()}};
  const bool labelled =
      count > 0 && (spec.is_regression ? !std::isnan(s.examples[0].score) : s.examples[0].label_id >= 0);
  if (labelled) {
    tasks::MetricMap m;
    if (spec.is_regression) {
      std::vector<double> gold;
      for (const auto& e : s.examples) gold.push_back(e.score);
      m = tasks::compute_glue_metrics(spec.name, scores, gold);
    } else {
      std::vector<int> gold;
      for (const auto& e : s.examples) gold.push_back(e.label_id);
      m = tasks::compute_glue_metrics(spec.name, predicted, gold);
    }
    for (const auto& [k, v] : m) j[k] = v;
  }
  return j;
}

bool is_glue(const std::string& task) { return task.rfind("glue/", 0) == 0; }

// Any task's own evaluation (reader, decoding, official metric) with every forward pass
// multiplexed: N instances per pass, the last group padded and its padding dropped.
nlohmann::json evaluate_task(mux::MuxBert& model, tasks::Task& task, const std::string& split) {
  model->eval();
  const bool all_positions = task.label_kind() == train::LabelKind::kPerToken;
  tasks::ScopedForward multiplexed([&model, all_positions](model::Bert&, const train::Batch& batch, const c10::Device& dev) {
    return mux::forward_rows(model, batch, dev, all_positions);
  });
  nlohmann::json j = task.evaluate(model->bert, split, "");
  j["n"] = model->n();
  return j;
}

std::string default_split(const tasks::glue::TaskSpec& spec) {
  for (const auto& s : spec.splits)
    if (s.name == "dev" || s.name == "dev_matched") return s.name;
  return spec.splits.front().name;
}

// Raw-text sequences through the MLM task's reader (no masking is applied: only its features are used).
std::vector<train::Feature> text_features(const TrainingConfig& cfg, std::shared_ptr<const tokenize::Tokenizer> tok,
                                          int64_t max_length) {
  tasks::TaskOptions topts = cfg.task_options;
  topts.texts = cfg.texts;
  topts.max_length = max_length;
  topts.max_train_examples = 0;
  return tasks::make_task("mlm", topts, std::move(tok))->train_features();
}

void run_mux_train(const TrainingConfig& cfg, const MuxOptions& mo) {
  LTH_CHECK(!cfg.model.empty(), UsageError, "--model is required");
  LTH_CHECK(!cfg.out.empty(), UsageError, "--out is required");
  LTH_CHECK(!cfg.task.empty() || mo.warmup_steps > 0, UsageError, "give --task, or --warmup-steps with --text");
  LTH_CHECK(cfg.task.empty() || is_glue(cfg.task) || cfg.task == "ner/conll2003", UsageError,
            "lth mux train supports the GLUE tasks (glue/sst2, ...) and ner/conll2003, not '{}'", cfg.task);
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(cfg.model);
  auto mc = mux_config(mo, cfg.train.seed);
  mux::resolve_index_tokens(mc, *tok);
  const auto bert_config = model::BertConfig::from_file(io::find_checkpoint(cfg.model).config_path);
  const int64_t prefix = mc.demux == mux::DemuxKind::kIndex ? mc.n : 0;
  const int64_t max_length = fitting_length(bert_config, cfg.task_options.max_length, prefix);
  nlohmann::json saved = cfg.to_json();
  saved["mux"] = mo.to_json();
  saved["max_length"] = max_length;
  nlohmann::json identity = identity_of(saved);
  if (!mo.mask.empty()) identity["mux"]["mask"] = sha256_hex(read_file(mo.mask));  // the content, not the path
  RunDir run(cfg.out, "mux train", identity, cfg.force);

  torch::manual_seed(cfg.train.seed);
  model::LoadOptions lopts;
  std::unique_ptr<tasks::Task> task;
  std::vector<train::Feature> task_features;
  train::LabelKind kind = train::LabelKind::kNone;
  if (!cfg.task.empty()) {
    tasks::TaskOptions topts = cfg.task_options;
    topts.data = cfg.data;
    topts.max_length = max_length;
    task = tasks::make_task(cfg.task, topts, tok);
    lopts.head = task->head();
    if (!task->labels().empty()) lopts.labels = task->labels();
    task_features = task->train_features();
    kind = task->label_kind();
  } else {
    lopts.head = model::HeadKind::kSequenceClassification;
    if (bert_config.id2label.empty()) lopts.labels = std::vector<std::string>{"LABEL_0", "LABEL_1"};
  }
  auto bert = model::load_pretrained(cfg.model, lopts);
  mux::MuxBert model(bert, mc);
  const auto masks = read_mask(mo.mask, bert);

  std::vector<train::Feature> warm, warm_dev;
  if (mo.warmup_steps > 0) {
    LTH_CHECK(!cfg.texts.empty(), UsageError, "--warmup-steps needs raw text: --text PATH");
    warm = text_features(cfg, tok, max_length);
    const size_t dev_count = std::clamp<size_t>(warm.size() / 50, 1, 512);
    LTH_CHECK(warm.size() > dev_count, IoError, "not enough text for the warm-up: {} sequences", warm.size());
    warm_dev.assign(warm.end() - static_cast<std::ptrdiff_t>(dev_count), warm.end());
    warm.resize(warm.size() - dev_count);
  }
  std::optional<GlueSplit> dev;
  if (task && is_glue(cfg.task)) {
    dev = read_glue(cfg.task, cfg.data, default_split(tasks::glue::find_task(cfg.task)), cfg.task_options.dev_file,
                    *tok, max_length);
  }

  run.begin();
  write_file_atomic(cfg.out + "/config.json", saved.dump(2) + "\n");

  mux::MuxTrainConfig tc;
  tc.train = cfg.train;
  tc.warmup_steps = mo.warmup_steps;
  tc.warmup_lr = mo.warmup_lr;
  tc.warmup_batch_size = mo.warmup_batch_size;
  tc.task_weight = mo.task_weight;
  tc.retrieval_weight = mo.retrieval_weight;
  tc.retrieval_fraction = mo.retrieval_fraction;
  mux::MuxTrainHooks hooks;
  if (dev) {
    hooks.evaluate = [&](mux::MuxBert& m) {
      return evaluate_glue(m, *dev, tok->pad_id(), cfg.task_options.eval_batch_size, cfg.train.precision,
                           cfg.train.device);
    };
    hooks.main_metric = dev->spec->main_metric;
  } else if (task) {  // token classification: the task's own evaluation, run multiplexed
    hooks.evaluate = [&](mux::MuxBert& m) { return evaluate_task(m, *task, task->default_eval_split()); };
    hooks.main_metric = task->main_metric();
  }
  if (!masks.empty()) hooks.masks = &masks;
  log::info("mux", "{} N={} mux={} demux={}{} -> {}", cfg.model, mc.n, mo.mux, mo.demux,
            mo.mask.empty() ? "" : " mask=" + mo.mask, cfg.out);
  auto result = mux::train_mux(model, warm, warm_dev, task_features, kind, tok->pad_id(), tc, hooks, cfg.out, cfg.model);
  nlohmann::json line = result.final_metrics.empty() ? result.warmup_metrics : result.final_metrics;
  line["n"] = mc.n;
  if (!result.warmup_metrics.empty()) line["warmup_retrieval_accuracy"] = result.warmup_metrics["retrieval_accuracy"];
  fmt::print("{}\n", line.dump());
}

struct MuxEvalConfig {
  std::string model, task, data, split, dev_file;
  std::vector<std::string> texts;
  int64_t max_length = 0;  // 0: the run's
  int64_t batch_size = 128;
  std::string precision = "auto";
  RuntimeOptions runtime;
};

void run_mux_eval(MuxEvalConfig cfg) {
  const std::string device = apply_runtime_options(cfg.runtime);
  cfg.precision = resolve_precision(cfg.precision, device);
  std::string dir = cfg.model;
  nlohmann::json run_config;
  if (path_exists(cfg.model + "/config.json") && !mux::is_mux_dir(cfg.model)) {
    // A run directory: its model/ and the config it was trained with.
    run_config = read_json_file(cfg.model + "/config.json");
    dir = cfg.model + "/model";
  }
  LTH_CHECK(mux::is_mux_dir(dir), IoError, "{}: not a multiplexed model or run directory (no mux_config.json)", dir);
  if (cfg.task.empty()) cfg.task = run_config.value("task", "");
  if (cfg.data.empty()) cfg.data = run_config.value("data", "");
  if (cfg.dev_file.empty() && cfg.split.empty()) cfg.dev_file = run_config.value("dev_file", "");
  if (cfg.texts.empty() && cfg.task.empty()) cfg.texts = run_config.value("text", std::vector<std::string>{});
  if (cfg.max_length == 0) cfg.max_length = run_config.value("max_length", int64_t{128});
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(dir);
  auto model = mux::load_mux(dir);
  model->to(torch::Device(device));
  const int64_t max_length = fitting_length(model->bert->config(), cfg.max_length, model->demux->prefix_length());
  if (!cfg.task.empty() && !is_glue(cfg.task)) {
    tasks::TaskOptions topts;
    topts.data = cfg.data;
    topts.dev_file = cfg.dev_file;
    topts.max_length = max_length;
    topts.eval_batch_size = cfg.batch_size;
    topts.precision = cfg.precision;
    topts.device = device;
    auto task = tasks::make_task(cfg.task, topts, tok);
    auto j = evaluate_task(model, *task, cfg.split.empty() ? task->default_eval_split() : cfg.split);
    fmt::print("{}\n", j.dump());
    return;
  }
  if (!cfg.task.empty()) {
    const auto& spec = tasks::glue::find_task(cfg.task);
    const std::string split = cfg.split.empty() ? default_split(spec) : cfg.split;
    const auto s = read_glue(cfg.task, cfg.data, split, cfg.dev_file, *tok, max_length);
    auto j = evaluate_glue(model, s, tok->pad_id(), cfg.batch_size, cfg.precision, device);
    j["split"] = split;
    fmt::print("{}\n", j.dump());
    return;
  }
  LTH_CHECK(!cfg.texts.empty(), UsageError, "give --task (GLUE or ner/conll2003) or --text (retrieval accuracy on raw text)");
  TrainingConfig tcfg;
  tcfg.texts = cfg.texts;
  const auto features = text_features(tcfg, tok, max_length);
  const auto stats = mux::predict_mux(model, features, tok->pad_id(), cfg.batch_size, cfg.precision, device, true, nullptr);
  fmt::print("{}\n", nlohmann::json{{"task", "retrieval"}, {"split", "text"}, {"examples", stats.examples},
                                    {"n", model->n()}, {"retrieval_accuracy", stats.retrieval_accuracy()}}
                         .dump());
}

struct MuxBenchConfig {
  std::string model = "bert-base";
  std::vector<int64_t> ns = {1, 2, 5, 10, 20};
  std::vector<std::string> runs;
  mux::BenchConfig bench;
  MuxOptions mux;
  bool json = false;
  RuntimeOptions runtime;
};

struct RunInfo {
  std::string dir, task, metric;
  int64_t n = 0;
  double value = 0.0, retrieval = 0.0, warmup_retrieval = 0.0, seconds = 0.0;
};

RunInfo read_run(const std::string& dir) {
  RunInfo r;
  r.dir = dir;
  LTH_CHECK(path_exists(dir + "/result.json"), IoError, "{}: no result.json (not a finished lth mux train run)", dir);
  const auto result = read_json_file(dir + "/result.json");
  const auto config = path_exists(dir + "/config.json") ? read_json_file(dir + "/config.json") : nlohmann::json::object();
  r.n = result.value("n", int64_t{0});
  r.task = config.value("task", "");
  const auto final = result.value("final", nlohmann::json::object());
  r.warmup_retrieval = result.value("warmup", nlohmann::json::object()).value("retrieval_accuracy", 0.0);
  r.seconds = result.value("seconds", 0.0);
  if (!r.task.empty()) {
    // Runs record their main metric (any task); older GLUE-only runs did not.
    r.metric = result.value("main_metric", std::string());
    if (r.metric.empty()) r.metric = tasks::glue::find_task(r.task).main_metric;
    r.value = final.value(r.metric, 0.0);
    r.retrieval = final.value("retrieval_accuracy", 0.0);
  } else {
    r.metric = "retrieval_accuracy";
    r.value = r.warmup_retrieval;
    r.retrieval = r.value;
  }
  return r;
}

void run_mux_bench(MuxBenchConfig cfg) {
  apply_runtime_options(cfg.runtime);
  std::vector<RunInfo> runs;
  for (const auto& d : cfg.runs) runs.push_back(read_run(d));
  std::set<int64_t> ns(cfg.ns.begin(), cfg.ns.end());
  for (const auto& r : runs) ns.insert(r.n);
  for (int64_t n : ns) LTH_CHECK(n >= 1, UsageError, "--n values must be >= 1, got {}", n);

  torch::manual_seed(cfg.bench.seed);
  model::Bert bert{nullptr};
  std::shared_ptr<const tokenize::Tokenizer> tok;
  if (cfg.model == "bert-base" || cfg.model == "bert-tiny") {
    bert = model::Bert(mux::preset_config(cfg.model));
  } else {
    const auto c = model::BertConfig::from_file(io::find_checkpoint(cfg.model).config_path);
    model::LoadOptions lopts;
    lopts.head = model::HeadKind::kSequenceClassification;
    if (c.id2label.empty()) lopts.labels = std::vector<std::string>{"LABEL_0", "LABEL_1"};
    bert = model::load_pretrained(cfg.model, lopts);
    try {
      tok = tokenize::load_tokenizer(cfg.model);
    } catch (const Error&) {
      tok = nullptr;
    }
  }
  const auto masks = read_mask(cfg.mux.mask, bert);
  if (!masks.empty()) train::apply_masks(bert, masks);
  std::vector<mux::MuxBert> models;
  for (int64_t n : ns) {
    MuxOptions o = cfg.mux;
    o.n = n;
    auto mc = mux_config(o, cfg.bench.seed);
    bool resolved = false;
    if (tok) {
      try {
        mux::resolve_index_tokens(mc, *tok);
        resolved = true;
      } catch (const ConfigError&) {
      }
    }
    if (!resolved && mc.demux == mux::DemuxKind::kIndex) {
      // Timing only: which ids the prefix holds does not change the cost.
      mc.filler_id = bert->config().vocab_size - 1;
      mc.index_ids.clear();
      for (int64_t i = 0; i < n; ++i) mc.index_ids.push_back(bert->config().vocab_size - 2 - i);
    }
    models.emplace_back(bert, mc);
  }
  const auto rows = mux::bench_throughput(bert, models, cfg.bench);
  const int threads = at::get_num_threads();
  if (cfg.json) {
    nlohmann::json j = {{"model", cfg.model}, {"seq_len", cfg.bench.seq_len}, {"batch", cfg.bench.batch},
                        {"rounds", cfg.bench.rounds}, {"threads", threads}, {"mux", cfg.mux.mux},
                        {"demux", cfg.mux.demux}, {"mask", cfg.mux.mask}};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json row = {{"n", r.n}, {"instances_per_s", r.instances_per_s}, {"speedup", r.speedup},
                            {"speedup_vs_plain", r.speedup_vs_plain}, {"seconds_per_forward", r.seconds},
                            {"instances_per_forward", r.instances}};
      for (const auto& run : runs) {
        if (run.n == r.n) row["runs"].push_back({{"dir", run.dir}, {"task", run.task}, {run.metric, run.value},
                                                 {"retrieval_accuracy", run.retrieval},
                                                 {"warmup_retrieval_accuracy", run.warmup_retrieval},
                                                 {"train_seconds", run.seconds}});
      }
      if (r.n == 0) {
        j["plain"] = row;
      } else {
        list.push_back(row);
      }
    }
    j["rows"] = list;
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("# {} seq-len {} batch {} threads {} mux {} demux {}{}; {} interleaved rounds, medians\n", cfg.model,
             cfg.bench.seq_len, cfg.bench.batch, threads, cfg.mux.mux, cfg.mux.demux,
             cfg.mux.mask.empty() ? "" : " mask " + cfg.mux.mask, cfg.bench.rounds);
  fmt::print("{:>6}  {:>12}  {:>8}  {:>9}  {:>10}\n", "N", "instances/s", "speedup", "vs plain", "s/forward");
  for (const auto& r : rows) {
    fmt::print("{:>6}  {:>12.2f}  {:>8}  {:>9.2f}  {:>10.4f}\n", r.n == 0 ? "plain" : std::to_string(r.n),
               r.instances_per_s, r.n == 0 ? "-" : fmt::format("{:.2f}", r.speedup), r.speedup_vs_plain, r.seconds);
  }
  if (!runs.empty()) {
    // retrieval: on the task's dev set after fine-tuning; warm-up: on held-out text after the warm-up.
    fmt::print("\n{:>6}  {:>12}  {:>8}  {:>10}  {:>9}  {:>7}  {:>8}  {}\n", "N", "instances/s", "speedup", "metric",
               "retrieval", "warm-up", "train s", "run");
    for (const auto& run : runs) {
      for (const auto& r : rows) {
        if (r.n != run.n) continue;
        fmt::print("{:>6}  {:>12.2f}  {:>8.2f}  {:>10.4f}  {:>9.4f}  {:>7.4f}  {:>8.0f}  {} ({} {})\n", r.n, r.instances_per_s,
                   r.speedup, run.value, run.retrieval, run.warmup_retrieval, run.seconds, run.dir,
                   run.task.empty() ? "warm-up" : run.task, run.metric);
      }
    }
  }
}

}  // namespace

void add_mux_command(CLI::App& app) {
  auto* mux = app.add_subcommand("mux", "Data multiplexing: N inputs per forward pass through a (pruned) BERT");
  mux->require_subcommand(1);

  {
    auto cfg = std::make_shared<TrainingConfig>();
    cfg->train.length = "3ep";
    auto mo = std::make_shared<MuxOptions>();
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
    auto cfg = std::make_shared<MuxEvalConfig>();
    auto* cmd = mux->add_subcommand("eval", "Evaluate a multiplexed model; prints one JSON line (with n, retrieval_accuracy)");
    cmd->add_option("--model", cfg->model, "lth mux train run directory, or a model directory with mux_config.json")
        ->required();
    cmd->add_option("--task", cfg->task, "GLUE task or ner/conll2003 (default: the run's)");
    cmd->add_option("--data", cfg->data, "Data directory (default: the run's)");
    cmd->add_option("--split", cfg->split, "Split (default: the task's dev split)");
    cmd->add_option("--dev", cfg->dev_file, "Evaluate this TSV file instead of the split's file");
    cmd->add_option("--text", cfg->texts, "Raw text: measure retrieval accuracy only");
    add_number(*cmd, "--max-length", cfg->max_length, "Maximum sequence length (default: the run's)", count(0, 1 << 20));
    add_number(*cmd, "--batch-size", cfg->batch_size, "Rows per forward pass (rounded up to a multiple of N)",
               count(1, 1 << 16))
        ->capture_default_str();
    cmd->add_option("--precision", cfg->precision, "auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
    add_runtime_options(*cmd, cfg->runtime);
    cmd->callback([cfg] { run_mux_eval(*cfg); });
  }
  {
    auto cfg = std::make_shared<MuxBenchConfig>();
    auto* cmd = mux->add_subcommand("bench", "Instances/s per N, measured side by side (interleaved rounds, medians)");
    cmd->add_option("--model", cfg->model, "Checkpoint directory, or bert-base / bert-tiny (random weights)")
        ->capture_default_str();
    add_number(*cmd, "--n", cfg->ns, "Values of N", count(1, 512))->delimiter(',')->capture_default_str();
    cmd->add_option("--runs", cfg->runs, "Trained lth mux run directories: adds an accuracy × throughput table");
    add_number(*cmd, "--seq-len", cfg->bench.seq_len, "Tokens per instance", count(1, 1 << 16))->capture_default_str();
    add_number(*cmd, "--batch", cfg->bench.batch, "Encoder sequences per forward pass (instances = batch × N)",
               count(1, 1 << 16))
        ->capture_default_str();
    add_number(*cmd, "--rounds", cfg->bench.rounds, "Interleaved repetitions (median taken)", count(1, 1e6))
        ->capture_default_str();
    cmd->add_flag("--json", cfg->json, "Print one JSON object");
    add_mux_shape_options(*cmd, cfg->mux);
    add_runtime_options(*cmd, cfg->runtime);
    cmd->callback([cfg] { run_mux_bench(*cfg); });
  }
}

}  // namespace lth::cli
