// lth bench: encoder (and Linear-layer) inference throughput, dense vs packed sparse weights at several
// sparsities, all variants measured side by side in one process, interleaved (A B C A B C ...).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/log.h"
#include "model/load.h"
#include "model/sparse.h"
#include "prune/mask.h"
#include "prune/strategy.h"

namespace lth::cli {
namespace {

struct BenchConfig {
  std::string model = "bert-base";
  std::string run;
  std::vector<double> sparsity{0.5, 0.7, 0.9, 0.95};
  int64_t batch = 32;
  int64_t seq_len = 128;
  int warmup = 1;
  int reps = 5;
  bool json = false;
  bool linear_only = false;
  bool pack_all = false;
  RuntimeOptions runtime;
};

// The replacements one variant installs on the layers (all null: dense).
struct LayerReplacements {
  std::shared_ptr<const model::LinearReplacement> qkv, attention_output, intermediate, output;
};

struct Variant {
  double sparsity = 0.0;  // of the prunable weights
  bool sparse = false;
  int64_t sparse_matrices = 0;
  int64_t dense_matrices = 0;
  uint64_t weight_bytes = 0;  // encoder Linear weights as this variant stores them
  std::vector<LayerReplacements> layers;
  std::vector<double> encoder_s, linear_s;  // seconds per batch, one per timed round
};

std::vector<model::BertLayer> layers_of(model::Bert& bert) {
  std::vector<model::BertLayer> out;
  for (const auto& m : *bert->bert->layers) out.emplace_back(std::dynamic_pointer_cast<model::BertLayerImpl>(m));
  return out;
}

void install(std::vector<model::BertLayer>& layers, const Variant& v) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerReplacements& r = v.layers[i];
    layers[i]->attention->self->qkv_replacement = r.qkv;
    layers[i]->attention->output->dense_replacement = r.attention_output;
    layers[i]->intermediate->dense_replacement = r.intermediate;
    layers[i]->output->dense_replacement = r.output;
  }
}

LayerReplacements snapshot(model::BertLayer& l) {
  return {l->attention->self->qkv_replacement, l->attention->output->dense_replacement,
          l->intermediate->dense_replacement, l->output->dense_replacement};
}

// Every Linear of every encoder layer as the layer computes it in inference (x_h [T, hidden] feeds
// Q/K/V, attention output and intermediate; x_i [T, intermediate] feeds the output dense).
void run_linears(std::vector<model::BertLayer>& layers, const at::Tensor& x_h, const at::Tensor& x_i) {
  auto one = [](const std::shared_ptr<const model::LinearReplacement>& r, torch::nn::Linear& l, const at::Tensor& x) {
    if (!r || r->forward(x).empty()) l(x);
  };
  for (auto& l : layers) {
    auto& self = l->attention->self;
    if (!self->qkv_replacement || self->qkv_replacement->forward(x_h).empty()) {
      self->query(x_h);
      self->key(x_h);
      self->value(x_h);
    }
    one(l->attention->output->dense_replacement, l->attention->output->dense, x_h);
    one(l->intermediate->dense_replacement, l->intermediate->dense, x_h);
    one(l->output->dense_replacement, l->output->dense, x_i);
  }
}

model::Bert build_model(const BenchConfig& cfg, std::string* label) {
  if (cfg.model == "bert-base" || cfg.model == "bert-tiny") {
    model::BertConfig c;
    if (cfg.model == "bert-tiny") {  // google/bert_uncased_L-2_H-128_A-2
      c.hidden_size = 128;
      c.num_hidden_layers = 2;
      c.num_attention_heads = 2;
      c.intermediate_size = 512;
    }
    torch::manual_seed(0);
    *label = cfg.model + " (random init)";
    return model::Bert(c);
  }
  *label = cfg.model;
  return model::load_pretrained(cfg.model);
}

// Masks to benchmark: the levels of a run directory, or global magnitude masks at each sparsity.
std::vector<prune::Mask> make_masks(const BenchConfig& cfg, const prune::NamedTensors& weights,
                                    const std::vector<std::string>& names) {
  std::vector<prune::Mask> out;
  if (!cfg.run.empty()) {
    namespace fs = std::filesystem;
    std::vector<std::pair<int, std::string>> levels;
    const std::regex level_re("level_([0-9]+)");
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cfg.run, ec)) {
      std::smatch m;
      const std::string file = e.path().filename().string();
      if (std::regex_match(file, m, level_re) && fs::exists(e.path() / "mask.safetensors")) {
        levels.emplace_back(std::stoi(m[1]), (e.path() / "mask.safetensors").string());
      }
    }
    LTH_CHECK(!ec, IoError, "{}: cannot list the run directory: {}", cfg.run, ec.message());
    LTH_CHECK(!levels.empty(), IoError, "{}: no level_N/mask.safetensors in this run directory", cfg.run);
    std::sort(levels.begin(), levels.end());
    for (const auto& [level, path] : levels) {
      prune::Mask mask = prune::load_mask(path);
      prune::check_mask_fits(mask, weights, path);
      if (mask.pruned() > 0) out.push_back(std::move(mask));
    }
    return out;
  }
  std::vector<double> levels = cfg.sparsity;
  std::sort(levels.begin(), levels.end());
  prune::Mask mask = prune::full_mask(weights, names);
  for (double s : levels) {
    LTH_CHECK(s >= 0.0 && s < 1.0, UsageError, "--sparsity {} is outside [0, 1)", s);
    const auto target = static_cast<int64_t>(std::llround(s * static_cast<double>(mask.total())));
    mask = prune::prune_to(mask, weights, target, prune::Strategy::kGlobal);
    out.push_back(mask);
  }
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

void run_bench(const BenchConfig& cfg) {
  apply_runtime_options(cfg.runtime);
  LTH_CHECK(cfg.batch > 0 && cfg.seq_len > 0 && cfg.reps > 0 && cfg.warmup >= 0, UsageError,
            "--batch, --seq-len and --reps must be positive, --warmup non-negative");
  std::string label;
  model::Bert bert = build_model(cfg, &label);
  LTH_CHECK(cfg.seq_len <= bert->config().max_position_embeddings, UsageError,
            "--seq-len {} exceeds the model's max_position_embeddings {}", cfg.seq_len,
            bert->config().max_position_embeddings);
  bert->eval();
  model::clear_packed_weights(bert);  // a sparse checkpoint's own packing is not a variant here
  torch::NoGradGuard no_grad;

  std::vector<std::string> all_names;
  std::vector<int64_t> dims;
  prune::NamedTensors params;
  for (auto& item : bert->named_parameters()) {
    all_names.push_back(item.key());
    dims.push_back(item.value().dim());
    params[item.key()] = item.value().detach();
  }
  const std::vector<std::string> names = prune::prunable_names(all_names, dims);
  prune::NamedTensors weights;
  for (const auto& n : names) weights[n] = params.at(n);
  log::info("bench", "building masks over {} prunable matrices", names.size());
  const std::vector<prune::Mask> masks = make_masks(cfg, weights, names);

  auto layers = layers_of(bert);
  const std::vector<std::string> linear_names = model::linear_weight_names(bert);
  uint64_t encoder_linear_bytes = 0;
  for (const auto& n : linear_names) {
    if (n.rfind("bert.encoder.", 0) == 0) encoder_linear_bytes += static_cast<uint64_t>(params.at(n).numel()) * 4;
  }

  std::vector<Variant> variants;
  Variant dense;
  dense.layers.resize(layers.size());
  dense.dense_matrices = static_cast<int64_t>(layers.size()) * 6;
  dense.weight_bytes = encoder_linear_bytes;
  variants.push_back(dense);
  model::SparseOptions options;
  options.respect_crossover = !cfg.pack_all;
  for (const prune::Mask& mask : masks) {
    model::PackedWeights packed;
    for (const auto& n : linear_names) {
      if (n.rfind("bert.encoder.", 0) != 0) continue;
      auto it = mask.tensors.find(n);
      const at::Tensor w = params.at(n);
      packed.emplace(n, ops::pack(it == mask.tensors.end() ? w : w * it->second.to(torch::kFloat32)));
    }
    Variant v;
    v.sparsity = mask.sparsity();
    v.sparse = true;
    const model::SparseUse use = model::use_packed_weights(bert, packed, options);
    v.sparse_matrices = use.sparse;
    v.dense_matrices = use.dense;
    for (auto& l : layers) v.layers.push_back(snapshot(l));
    for (const auto& [n, p] : packed) {  // as the variant reads them: CSR arrays, or the dense matrix
      const bool runs_sparse = !options.respect_crossover ||
                               ops::sparse_crossover_density(ops::selected_isa(), p.cols(), p.rows()) > p.density();
      v.weight_bytes += runs_sparse ? p.bytes() : static_cast<uint64_t>(p.rows() * p.cols()) * sizeof(float);
    }
    variants.push_back(std::move(v));
  }
  model::clear_packed_weights(bert);

  const int64_t tokens = cfg.batch * cfg.seq_len;
  const auto& c = bert->config();
  torch::manual_seed(1);
  const at::Tensor ids = torch::randint(c.vocab_size, {cfg.batch, cfg.seq_len}, torch::kLong);
  const at::Tensor types = torch::zeros({cfg.batch, cfg.seq_len}, torch::kLong);
  const at::Tensor attention = torch::ones({cfg.batch, cfg.seq_len}, torch::kLong);
  const at::Tensor x_h = torch::randn({tokens, c.hidden_size});
  const at::Tensor x_i = torch::randn({tokens, c.intermediate_size});
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };

  log::info("bench", "{}: {} variants, batch {} x seq {}, {} threads, kernel {}; {} warm-up + {} timed rounds",
            label, variants.size(), cfg.batch, cfg.seq_len, at::get_num_threads(), ops::isa_name(ops::selected_isa()),
            cfg.warmup, cfg.reps);
  // Linear layers alone, then the encoder; each round runs every variant once (A B C A B C ...).
  for (int round = 0; round < cfg.warmup + cfg.reps; ++round) {
    for (auto& v : variants) {
      install(layers, v);
      const auto t0 = Clock::now();
      run_linears(layers, x_h, x_i);
      if (round >= cfg.warmup) v.linear_s.push_back(seconds(t0, Clock::now()));
    }
  }
  if (!cfg.linear_only) {
    for (int round = 0; round < cfg.warmup + cfg.reps; ++round) {
      for (auto& v : variants) {
        install(layers, v);
        const auto t0 = Clock::now();
        const at::Tensor h = bert->bert->encode(bert->bert->embed(ids, types), attention).last_hidden_state;
        if (round >= cfg.warmup) v.encoder_s.push_back(seconds(t0, Clock::now()));
        LTH_CHECK(h.size(0) == cfg.batch, ShapeError, "encoder returned {} sequences", h.size(0));
      }
      log::debug("bench", "encoder round {} done", round);
    }
  }
  model::clear_packed_weights(bert);

  auto rows = [&](bool encoder) {
    nlohmann::json out = nlohmann::json::array();
    const double base = median(encoder ? variants[0].encoder_s : variants[0].linear_s);
    for (const auto& v : variants) {
      const double t = median(encoder ? v.encoder_s : v.linear_s);
      out.push_back({{"sparsity", v.sparsity},
                     {"kernel", v.sparse ? "sparse" : "dense"},
                     {"sparse_matrices", v.sparse_matrices},
                     {"dense_matrices", v.dense_matrices},
                     {"ms_per_batch", 1e3 * t},
                     {"sequences_per_s", static_cast<double>(cfg.batch) / t},
                     {"tokens_per_s", static_cast<double>(tokens) / t},
                     {"speedup", base / t},
                     {"weight_bytes", v.weight_bytes}});
    }
    return out;
  };
  nlohmann::json result = {{"model", label},
                           {"layers", c.num_hidden_layers},
                           {"hidden_size", c.hidden_size},
                           {"batch", cfg.batch},
                           {"seq_len", cfg.seq_len},
                           {"threads", at::get_num_threads()},
                           {"isa", ops::isa_name(ops::selected_isa())},
                           {"warmup", cfg.warmup},
                           {"reps", cfg.reps},
                           {"interleaved", true}};
  if (cfg.linear_only) {
    result["rows"] = rows(false);
  } else {
    result["rows"] = rows(true);
    result["linear_rows"] = rows(false);
  }
  result["peak_rss_bytes"] = peak_rss_bytes();
  if (cfg.json) {
    fmt::print("{}\n", result.dump(2));
    return;
  }
  fmt::print("{}: {} layers, hidden {}; batch {} x seq {} = {} tokens; {} threads; sparse kernel {}\n", label,
             c.num_hidden_layers, c.hidden_size, cfg.batch, cfg.seq_len, tokens, at::get_num_threads(),
             ops::isa_name(ops::selected_isa()));
  fmt::print("medians of {} interleaved rounds after {} warm-up; speedup = dense time / variant time\n", cfg.reps,
             cfg.warmup);
  auto table = [&](const char* title, const nlohmann::json& rs) {
    fmt::print("\n{}\n", title);
    fmt::print("  {:>8}  {:<6}  {:>13}  {:>10}  {:>11}  {:>10}  {:>8}  {:>11}\n", "sparsity", "kernel", "sparse/total",
               "ms/batch", "sequences/s", "tokens/s", "speedup", "weights MiB");
    for (const auto& r : rs) {
      fmt::print("  {:>8.3f}  {:<6}  {:>13}  {:>10.1f}  {:>11.1f}  {:>10.0f}  {:>7.2f}x  {:>11.1f}\n",
                 r["sparsity"].get<double>(), r["kernel"].get<std::string>(),
                 fmt::format("{}/{}", r["sparse_matrices"].get<int64_t>(),
                             r["sparse_matrices"].get<int64_t>() + r["dense_matrices"].get<int64_t>()),
                 r["ms_per_batch"].get<double>(), r["sequences_per_s"].get<double>(), r["tokens_per_s"].get<double>(),
                 r["speedup"].get<double>(), static_cast<double>(r["weight_bytes"].get<uint64_t>()) / (1024.0 * 1024.0));
    }
  };
  if (!cfg.linear_only) table("encoder (embeddings + all layers)", result["rows"]);
  table("Linear layers only (Q, K, V, attention output, intermediate, output of every layer)",
        cfg.linear_only ? result["rows"] : result["linear_rows"]);
  fmt::print("\npeak RSS (VmHWM): {:.1f} MiB\n", static_cast<double>(result["peak_rss_bytes"].get<uint64_t>()) / (1024.0 * 1024.0));
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto cfg = std::make_shared<BenchConfig>();
  auto* cmd = app.add_subcommand("bench", "Inference throughput of the encoder, dense vs packed sparse weights");
  cmd->add_option("--model", cfg->model, "Checkpoint directory, or bert-base / bert-tiny (random init of that shape)")
      ->capture_default_str();
  add_number(*cmd, "--sparsity", cfg->sparsity, "Sparsities of global magnitude masks over the prunable weights",
             fraction_closed_open())
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--run", cfg->run, "IMP run directory: benchmark its level_N/mask.safetensors instead of --sparsity");
  add_number(*cmd, "--batch", cfg->batch, "Sequences per batch", count(1, 1 << 16))->capture_default_str();
  add_number(*cmd, "--seq-len", cfg->seq_len, "Tokens per sequence", count(1, 1 << 16))->capture_default_str();
  add_number(*cmd, "--warmup", cfg->warmup, "Untimed rounds first", count(0, 1e6))->capture_default_str();
  add_number(*cmd, "--reps", cfg->reps, "Timed rounds (each runs every variant once)", count(1, 1e6))->capture_default_str();
  cmd->add_flag("--linear-only", cfg->linear_only, "Time only the Linear layers, not the whole encoder");
  cmd->add_flag("--pack-all", cfg->pack_all, "Run every weight sparse, even above the measured crossover density");
  cmd->add_flag("--json", cfg->json, "One JSON object instead of tables");
  add_runtime_options(*cmd, cfg->runtime);
  cmd->callback([cfg] { run_bench(*cfg); });
}

}  // namespace lth::cli
