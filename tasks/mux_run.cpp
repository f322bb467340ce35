#include "tasks/mux_run.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/run_identity.h"
#include "io/checkpoint.h"
#include "model/load.h"
#include "model/sparse.h"
#include "mux/mux_model.h"
#include "mux/mux_train.h"
#include "prune/mask.h"
#include "tasks/glue/glue.h"
#include "tasks/glue/glue_task.h"

namespace lth::tasks {

namespace {

mux::MuxConfig mux_config(const MuxSettings& o, uint64_t seed) {
  mux::MuxConfig c;
  c.n = o.n;
  c.mux = mux::mux_kind_from_name(o.mux);
  c.demux = mux::demux_kind_from_name(o.demux);
  c.hadamard_norm = o.hadamard_norm;
  c.pooling = mux::pooling_kind_from_name(o.pooling);
  c.seed = seed;
  c.index_token_format = o.index_tokens;
  return c;
}

// The ticket mask, read and checked as every other verb does (prune::load_mask: U8/BOOL tensors
// of 0/1 only; Mask::check_fits: every name and shape matches the model's parameters). No path: an
// empty mask.
prune::Mask read_mask(const std::string& path, model::Bert& bert) {
  if (path.empty()) return {};
  prune::Mask mask = prune::load_mask(path);
  LTH_CHECK(!mask.tensors.empty(), IoError, "{}: holds no mask tensors", path);
  mask.check_fits(bert, path);
  log::info("mux", "mask {}: {} tensors", path, mask.tensors.size());
  return mask;
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
  const glue::TaskSpec* spec = nullptr;
  std::string split;
  std::vector<glue::Example> examples;
  std::vector<train::Feature> features;
};

GlueSplit read_glue(const std::string& task, const std::string& data, const std::string& split,
                    const std::string& file, const tokenize::Tokenizer& tok, int64_t max_length) {
  GlueSplit s;
  s.spec = &glue::find_task(task);
  s.split = split;
  LTH_CHECK(!file.empty() || !data.empty(), UsageError, "--data is required (or --dev FILE)");
  s.examples = glue::read_examples(*s.spec, split, data, file);
  s.features = glue::featurize(*s.spec, s.examples, tok, max_length, false);
  return s;
}

// The GLUE metrics of a split predicted N examples per pass, with the retrieval accuracy.
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
  nlohmann::json j = glue::score(spec, s.split, s.examples, predicted, scores);
  j["n"] = model->n();
  j.update(stats.retrieval_json());
  return j;
}

bool is_glue(const std::string& task) { return task.rfind("glue/", 0) == 0; }

// Any task's own evaluation (reader, decoding, official metric) with every forward pass
// multiplexed: N instances per pass, the last group padded and its padding dropped.
nlohmann::json evaluate_task(mux::MuxBert& model, Task& task, const std::string& split, const std::string& precision,
                             const std::string& device) {
  model->eval();
  const bool all_positions = task.label_kind() == train::LabelKind::kPerToken;
  train::EvalContext multiplexed;
  multiplexed.precision = precision;
  multiplexed.device = device;
  multiplexed.forward = [&model, all_positions](model::Bert&, const train::Batch& batch, const c10::Device& dev) {
    return mux::forward_rows(model, batch, dev, all_positions);
  };
  nlohmann::json j = task.evaluate(model->bert, split, "", multiplexed);
  j["n"] = model->n();
  return j;
}

// Raw-text sequences through the MLM task's reader (no masking is applied: only its features are used).
std::vector<train::Feature> text_features(const std::vector<std::string>& texts,
                                          std::shared_ptr<const tokenize::Tokenizer> tok, int64_t max_length) {
  TaskOptions options;
  options.texts = texts;
  options.max_length = max_length;
  return make_task("mlm", options, std::move(tok))->train_features(/*seed, unused by mlm*/ 0);
}

void check_train_run(const MuxTrainRun& run) {
  LTH_CHECK(!run.model.empty(), UsageError, "--model is required");
  LTH_CHECK(!run.out.empty(), UsageError, "--out is required");
  LTH_CHECK(!run.task.empty() || run.mux.warmup_steps > 0, UsageError, "give --task, or --warmup-steps with --text");
  LTH_CHECK(run.task.empty() || is_glue(run.task) || run.task == "ner/conll2003", UsageError,
            "lth mux train supports the GLUE tasks (glue/sst2, ...) and ner/conll2003, not '{}'", run.task);
}

// What training reads: the task's features (none for a warm-up only run) and the model.
struct TrainInputs {
  std::unique_ptr<Task> task;
  std::vector<train::Feature> task_features;
  train::LabelKind kind = train::LabelKind::kNone;
  model::Bert bert{nullptr};
};

TrainInputs load_train_inputs(const MuxTrainRun& run, const model::BertConfig& bert_config,
                              std::shared_ptr<const tokenize::Tokenizer> tok, int64_t max_length) {
  TrainInputs in;
  model::LoadOptions lopts;
  if (!run.task.empty()) {
    TaskOptions topts = run.task_options;
    topts.max_length = max_length;
    in.task = make_task(run.task, topts, std::move(tok));
    lopts.head = in.task->head();
    if (!in.task->labels().empty()) lopts.labels = in.task->labels();
    in.task_features = in.task->train_features(run.train.seed);
    in.kind = in.task->label_kind();
  } else {
    lopts.head = model::HeadKind::kSequenceClassification;
    if (bert_config.id2label.empty()) lopts.labels = std::vector<std::string>{"LABEL_0", "LABEL_1"};
  }
  in.bert = model::load_pretrained(run.model, lopts);
  return in;
}

mux::MuxTrainConfig train_config(const MuxTrainRun& run) {
  mux::MuxTrainConfig tc;
  tc.train = run.train;
  tc.warmup_steps = run.mux.warmup_steps;
  tc.warmup_lr = run.mux.warmup_lr;
  tc.warmup_batch_size = run.mux.warmup_batch_size;
  tc.warmup_eval_every = run.mux.warmup_eval_every;
  tc.task_weight = run.mux.task_weight;
  tc.retrieval_weight = run.mux.retrieval_weight;
  tc.retrieval_fraction = run.mux.retrieval_fraction;
  return tc;
}

// The warm-up's training and held-out text: the last 2% of the sequences (1..512) measure retrieval.
void split_warmup_text(const MuxTrainRun& run, std::shared_ptr<const tokenize::Tokenizer> tok, int64_t max_length,
                       std::vector<train::Feature>& warm, std::vector<train::Feature>& warm_dev) {
  if (run.mux.warmup_steps <= 0) return;
  LTH_CHECK(!run.task_options.texts.empty(), UsageError, "--warmup-steps needs raw text: --text PATH");
  warm = text_features(run.task_options.texts, std::move(tok), max_length);
  const size_t dev_count = std::clamp<size_t>(warm.size() / 50, 1, 512);
  LTH_CHECK(warm.size() > dev_count, IoError, "not enough text for the warm-up: {} sequences", warm.size());
  warm_dev.assign(warm.end() - static_cast<std::ptrdiff_t>(dev_count), warm.end());
  warm.resize(warm.size() - dev_count);
}

}  // namespace

nlohmann::json run_mux_train(const MuxTrainRun& run) {
  check_train_run(run);
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(run.model);
  auto mc = mux_config(run.mux, run.train.seed);
  mux::resolve_index_tokens(mc, *tok);
  const auto bert_config = model::BertConfig::from_file(io::find_checkpoint(run.model).config_path);
  const int64_t prefix = mc.demux == mux::DemuxKind::kIndex ? mc.n : 0;
  const int64_t max_length = fitting_length(bert_config, run.task_options.max_length, prefix);
  nlohmann::json saved = run.resolved;
  saved["max_length"] = max_length;
  nlohmann::json identity = identity_of(saved);
  if (!run.mux.mask.empty()) identity["mux"]["mask"] = sha256_hex(read_file(run.mux.mask));  // the content, not the path
  RunDir dir(run.out, "mux train", identity, run.force);

  torch::manual_seed(run.train.seed);
  TrainInputs in = load_train_inputs(run, bert_config, tok, max_length);
  mux::MuxBert model(in.bert, mc);
  const prune::Mask mask = read_mask(run.mux.mask, in.bert);
  std::vector<train::Feature> warm, warm_dev;
  split_warmup_text(run, tok, max_length, warm, warm_dev);
  std::optional<GlueSplit> dev;
  if (in.task && is_glue(run.task)) {
    dev = read_glue(run.task, run.task_options.data, glue::default_split(glue::find_task(run.task)), run.task_options.dev_file, *tok,
                    max_length);
    dev->split = "dev";  // the label training's dev metrics have always carried (MNLI's too)
  }
  dir.begin();
  write_file_atomic(run.out + "/config.json", saved.dump(2) + "\n");

  mux::MuxTrainHooks hooks;
  if (dev) {
    hooks.evaluate = [&](mux::MuxBert& m) {
      return evaluate_glue(m, *dev, tok->pad_id(), run.task_options.eval_batch_size, run.train.precision,
                           run.train.device);
    };
    hooks.main_metric = dev->spec->main_metric;
  } else if (in.task) {  // token classification: the task's own evaluation, run multiplexed
    hooks.evaluate = [&](mux::MuxBert& m) {
      return evaluate_task(m, *in.task, in.task->default_eval_split(), run.train.precision, run.train.device);
    };
    hooks.main_metric = in.task->main_metric();
  }
  if (!mask.tensors.empty()) hooks.masks = &mask;
  log::info("mux", "{} N={} mux={} demux={}{} -> {}", run.model, mc.n, run.mux.mux, run.mux.demux,
            run.mux.mask.empty() ? "" : " mask=" + run.mux.mask, run.out);
  auto result = mux::train_mux(model, warm, warm_dev, in.task_features, in.kind, tok->pad_id(), train_config(run), hooks,
                               run.out, run.model);
  nlohmann::json line = result.final_metrics.empty() ? result.warmup_metrics : result.final_metrics;
  line["n"] = mc.n;
  if (!result.warmup_metrics.empty()) line["warmup_retrieval_accuracy"] = result.warmup_metrics["retrieval_accuracy"];
  return line;
}

namespace {

// Settings left empty take the run's (config.json of an lth mux train run directory).
std::string resolve_eval_run(MuxEvalRun& run) {
  std::string dir = run.model;
  nlohmann::json run_config = nlohmann::json::object();  // a model directory: nothing to inherit
  if (path_exists(run.model + "/config.json") && !mux::is_mux_dir(run.model)) {
    // A run directory: its model/ and the config it was trained with.
    run_config = read_json_file(run.model + "/config.json");
    dir = run.model + "/model";
  }
  LTH_CHECK(mux::is_mux_dir(dir), IoError, "{}: not a multiplexed model or run directory (no mux_config.json)", dir);
  if (run.task.empty()) run.task = run_config.value("task", "");
  if (run.data.empty()) run.data = run_config.value("data", "");
  if (run.dev_file.empty() && run.split.empty()) run.dev_file = run_config.value("dev_file", "");
  if (run.texts.empty() && run.task.empty()) run.texts = run_config.value("text", std::vector<std::string>{});
  if (run.max_length == 0) run.max_length = run_config.value("max_length", int64_t{128});
  return dir;
}

nlohmann::json eval_other_task(const MuxEvalRun& run, mux::MuxBert& model,
                               std::shared_ptr<const tokenize::Tokenizer> tok, int64_t max_length) {
  TaskOptions topts;
  topts.data = run.data;
  topts.dev_file = run.dev_file;
  topts.max_length = max_length;
  topts.eval_batch_size = run.batch_size;
  auto task = make_task(run.task, topts, std::move(tok));
  return evaluate_task(model, *task, run.split.empty() ? task->default_eval_split() : run.split, run.precision,
                       run.device);
}

}  // namespace

nlohmann::json run_mux_eval(MuxEvalRun run) {
  const std::string dir = resolve_eval_run(run);
  std::shared_ptr<const tokenize::Tokenizer> tok = tokenize::load_tokenizer(dir);
  auto model = mux::load_mux(dir);
  model->to(torch::Device(run.device));
  const int64_t max_length = fitting_length(model->bert->config(), run.max_length, model->demux->prefix_length());
  if (!run.task.empty() && !is_glue(run.task)) return eval_other_task(run, model, tok, max_length);
  if (!run.task.empty()) {
    const std::string split = run.split.empty() ? glue::default_split(glue::find_task(run.task)) : run.split;
    const auto s = read_glue(run.task, run.data, split, run.dev_file, *tok, max_length);
    return evaluate_glue(model, s, tok->pad_id(), run.batch_size, run.precision, run.device);
  }
  LTH_CHECK(!run.texts.empty(), UsageError, "give --task (GLUE or ner/conll2003) or --text (retrieval accuracy on raw text)");
  const auto features = text_features(run.texts, tok, max_length);
  const auto stats = mux::predict_mux(model, features, tok->pad_id(), run.batch_size, run.precision, run.device, true, nullptr);
  nlohmann::json j{{"task", "retrieval"}, {"split", "text"}, {"examples", stats.examples}, {"n", model->n()}};
  j.update(stats.retrieval_json());
  return j;
}

namespace {

// The benchmarked BERT: a preset of random weights, or a checkpoint (with its tokenizer when it has one).
model::Bert bench_bert(const std::string& name, std::shared_ptr<const tokenize::Tokenizer>& tok) {
  if (name == "bert-base" || name == "bert-tiny") return model::Bert(mux::preset_config(name));
  const auto c = model::BertConfig::from_file(io::find_checkpoint(name).config_path);
  model::LoadOptions lopts;
  lopts.head = model::HeadKind::kSequenceClassification;
  if (c.id2label.empty()) lopts.labels = std::vector<std::string>{"LABEL_0", "LABEL_1"};
  auto bert = model::load_pretrained(name, lopts);
  try {
    tok = tokenize::load_tokenizer(name);
  } catch (const Error&) {
    tok = nullptr;
  }
  return bert;
}

// A multiplexed wrapper of `bert` with settings `o`. Index ids the tokenizer cannot give are
// stand-ins: timing only, which ids the prefix holds does not change the cost.
mux::MuxBert bench_model(model::Bert& bert, const MuxSettings& o, uint64_t seed, const tokenize::Tokenizer* tok) {
  auto mc = mux_config(o, seed);
  bool resolved = false;
  if (tok) {
    try {
      mux::resolve_index_tokens(mc, *tok);
      resolved = true;
    } catch (const ConfigError&) {
    }
  }
  if (!resolved && mc.demux == mux::DemuxKind::kIndex) {
    mc.filler_id = bert->config().vocab_size - 1;
    mc.index_ids.clear();
    for (int64_t i = 0; i < o.n; ++i) mc.index_ids.push_back(bert->config().vocab_size - 2 - i);
  }
  return mux::MuxBert(bert, mc);
}

// The configurations to time: every --n with the command's settings, and every trained run's own
// (N, mux, demux, mask), each once; dense ones first (the first dense N=1 is the speedups' base).
std::vector<MuxSettings> bench_variants(const MuxBenchRun& run, const std::vector<mux::TrainedRun>& trained) {
  std::vector<MuxSettings> out;
  auto add = [&](const MuxSettings& o) {
    LTH_CHECK(o.n >= 1, UsageError, "--n values must be >= 1, got {}", o.n);
    const bool seen = std::any_of(out.begin(), out.end(), [&](const MuxSettings& v) {
      return v.n == o.n && v.mux == o.mux && v.demux == o.demux && v.pooling == o.pooling && v.mask == o.mask;
    });
    if (!seen) out.push_back(o);
  };
  for (int64_t n : std::set<int64_t>(run.ns.begin(), run.ns.end())) {
    MuxSettings o = run.mux;
    o.n = n;
    add(o);
  }
  for (const auto& t : trained) {
    MuxSettings o = run.mux;
    o.n = t.n;
    o.mux = t.mux;
    o.demux = t.demux;
    o.index_tokens = t.index_tokens;
    o.pooling = t.pooling;
    o.mask = t.mask;
    add(o);
  }
  std::stable_sort(out.begin(), out.end(), [](const MuxSettings& a, const MuxSettings& b) {
    return std::make_tuple(!a.mask.empty(), a.mask, a.n) < std::make_tuple(!b.mask.empty(), b.mask, b.n);
  });
  return out;
}

// A BERT for the bench with `mask_path` applied; its pruned encoder matrices run through the sparse
// kernel where that beats dense at their density, as a sparse export's would. `sparsity`: the share
// of the mask's weights it prunes (0 without a mask).
model::Bert masked_bench_bert(const MuxBenchRun& run, const std::string& mask_path,
                              std::shared_ptr<const tokenize::Tokenizer>& tok, double& sparsity) {
  torch::manual_seed(run.bench.seed);
  model::Bert bert = bench_bert(run.model, tok);
  const prune::Mask mask = read_mask(mask_path, bert);
  mask.apply(bert);
  sparsity = mask.tensors.empty() ? 0.0 : mask.sparsity();
  if (!mask.tensors.empty()) {
    const auto use = model::use_packed_weights(bert, model::pack_masked_encoder_weights(bert, mask.tensors));
    log::info("mux", "bench: mask {} ({:.1f}% pruned): {} encoder matrices sparse, {} dense", mask_path,
              100.0 * sparsity, use.sparse, use.dense);
  }
  return bert;
}

}  // namespace

mux::BenchReport run_mux_bench(const MuxBenchRun& run) {
  mux::BenchReport report{run.model, run.mux.mux, run.mux.demux, run.mux.mask, run.bench, 0, {}, {}};
  const auto main_metric_of = [](const std::string& task) { return glue::find_task(task).main_metric; };
  for (const auto& d : run.runs) report.runs.push_back(mux::read_trained_run(d, main_metric_of));
  const auto variants = bench_variants(run, report.runs);

  // One BERT per mask (the command's own first: it is the plain row), then one wrapper per variant.
  std::shared_ptr<const tokenize::Tokenizer> tok;
  std::map<std::string, std::pair<model::Bert, double>> berts;
  auto bert_for = [&](const std::string& mask) -> std::pair<model::Bert, double>& {
    auto it = berts.find(mask);
    if (it == berts.end()) {
      double sparsity = 0.0;
      model::Bert bert = masked_bench_bert(run, mask, tok, sparsity);
      it = berts.emplace(mask, std::make_pair(bert, sparsity)).first;
    }
    return it->second;
  };
  model::Bert plain = bert_for(run.mux.mask).first;
  std::vector<mux::MuxBert> models;
  for (const auto& v : variants) models.push_back(bench_model(bert_for(v.mask).first, v, run.bench.seed, tok.get()));
  report.rows = mux::bench_throughput(plain, models, run.bench);
  report.rows[0].mask = run.mux.mask;
  report.rows[0].sparsity = berts.at(run.mux.mask).second;
  for (size_t k = 0; k < variants.size(); ++k) {
    auto& row = report.rows[k + 1];
    row.mux = variants[k].mux;
    row.demux = variants[k].demux;
    row.pooling = variants[k].pooling;
    row.mask = variants[k].mask;
    row.sparsity = berts.at(variants[k].mask).second;
  }
  report.threads = at::get_num_threads();
  return report;
}

}  // namespace lth::tasks
