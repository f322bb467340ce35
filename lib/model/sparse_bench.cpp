#include "model/sparse_bench.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>

#include <torch/torch.h>

#include "core/error.h"
#include "core/log.h"
#include "model/load.h"
#include "model/sparse.h"

namespace lth::model {
namespace {

// The replacements one variant installs on the layers (all null: dense).
struct LayerReplacements {
  std::shared_ptr<const LinearReplacement> qkv, attention_output, intermediate, output;
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

std::vector<BertLayer> layers_of(Bert& bert) {
  std::vector<BertLayer> out;
  for (const auto& m : *bert->bert->layers) out.emplace_back(std::dynamic_pointer_cast<BertLayerImpl>(m));
  return out;
}

void install(std::vector<BertLayer>& layers, const Variant& v) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerReplacements& r = v.layers[i];
    layers[i]->attention->self->qkv_replacement = r.qkv;
    layers[i]->attention->output->dense_replacement = r.attention_output;
    layers[i]->intermediate->dense_replacement = r.intermediate;
    layers[i]->output->dense_replacement = r.output;
  }
}

LayerReplacements snapshot(BertLayer& l) {
  return {l->attention->self->qkv_replacement, l->attention->output->dense_replacement,
          l->intermediate->dense_replacement, l->output->dense_replacement};
}

// Every Linear of every encoder layer as the layer computes it (x_h [T, hidden] feeds Q/K/V,
// attention output and intermediate; x_i [T, intermediate] feeds the output dense); `sink` gets each
// output.
void run_linears(std::vector<BertLayer>& layers, const at::Tensor& x_h, const at::Tensor& x_i,
                 const std::function<void(const at::Tensor&)>& sink) {
  auto run = [&](const std::shared_ptr<const LinearReplacement>& r, std::vector<torch::nn::Linear> dense,
                 const at::Tensor& x) {
    std::vector<at::Tensor> ys = r ? r->forward(x) : std::vector<at::Tensor>{};
    if (ys.empty()) {
      for (auto& l : dense) ys.push_back(l(x));
    }
    for (const auto& y : ys) sink(y);
  };
  for (auto& l : layers) {
    auto& self = l->attention->self;
    run(self->qkv_replacement, {self->query, self->key, self->value}, x_h);
    run(l->attention->output->dense_replacement, {l->attention->output->dense}, x_h);
    run(l->intermediate->dense_replacement, {l->intermediate->dense}, x_h);
    run(l->output->dense_replacement, {l->output->dense}, x_i);
  }
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

// The timed inputs: token ids for the encoder, and activations [tokens, hidden] / [tokens,
// intermediate] for the Linears alone (with gradients for training steps). Seeded: every variant
// and every run sees the same ones.
struct BenchInputs {
  at::Tensor ids, types, attention, x_h, x_i;
};

BenchInputs bench_inputs(Bert& bert, const SparseBenchConfig& cfg, bool requires_grad) {
  const int64_t tokens = cfg.batch * cfg.seq_len;
  const auto& c = bert->config();
  torch::manual_seed(1);
  BenchInputs in;
  in.ids = torch::randint(c.vocab_size, {cfg.batch, cfg.seq_len}, torch::kLong);
  in.types = torch::zeros({cfg.batch, cfg.seq_len}, torch::kLong);
  in.attention = torch::ones({cfg.batch, cfg.seq_len}, torch::kLong);
  in.x_h = torch::randn({tokens, c.hidden_size}).requires_grad_(requires_grad);
  in.x_i = torch::randn({tokens, c.intermediate_size}).requires_grad_(requires_grad);
  return in;
}

// The encoder's Linear weights as float32.
uint64_t dense_encoder_linear_bytes(Bert& bert) {
  const auto params = bert->named_parameters();
  uint64_t bytes = 0;
  for (const auto& n : linear_weight_names(bert)) {
    if (n.rfind("bert.encoder.", 0) == 0) bytes += static_cast<uint64_t>(params[n].numel()) * sizeof(float);
  }
  return bytes;
}

// The dense variant first, then one per mask with its replacements installed and snapshotted:
// packed weights for inference, sparse-training replacements for training (the dense variant stands
// for the masked dense path, which costs what the dense one does). Weight bytes as the variant
// reads them: CSR arrays or dense matrices in inference; training holds dense parameters either way.
std::vector<Variant> build_variants(Bert& bert, std::vector<BertLayer>& layers, const std::vector<BenchMask>& masks,
                                    const SparseBenchConfig& cfg) {
  const uint64_t encoder_linear_bytes = dense_encoder_linear_bytes(bert);
  std::vector<Variant> variants;
  Variant dense;
  dense.layers.resize(layers.size());
  dense.dense_matrices = static_cast<int64_t>(layers.size()) * 6;
  dense.weight_bytes = encoder_linear_bytes;
  variants.push_back(dense);
  SparseOptions options;
  options.respect_crossover = !cfg.pack_all;
  for (const BenchMask& mask : masks) {
    Variant v;
    v.sparsity = mask.sparsity;
    v.sparse = true;
    SparseUse use;
    if (cfg.train) {
      use = use_sparse_training(bert, mask.tensors, options);
      v.weight_bytes = encoder_linear_bytes;
    } else {
      const PackedWeights packed = pack_masked_encoder_weights(bert, mask.tensors);
      use = use_packed_weights(bert, packed, options);
      for (const auto& [n, p] : packed) {
        const bool runs_sparse = !options.respect_crossover ||
                                 ops::sparse_crossover_density(ops::selected_isa(), p.cols(), p.rows()) > p.density();
        v.weight_bytes += runs_sparse ? p.bytes() : static_cast<uint64_t>(p.rows() * p.cols()) * sizeof(float);
      }
    }
    v.sparse_matrices = use.sparse;
    v.dense_matrices = use.dense;
    for (auto& l : layers) v.layers.push_back(snapshot(l));
    variants.push_back(std::move(v));
  }
  clear_packed_weights(bert);
  return variants;
}

// Linear layers alone, then the encoder; each round runs every variant once (A B C A B C ...). A
// timed unit is a forward pass, or with cfg.train a forward and backward pass against fixed output
// gradients (the sum of the Linears' outputs; h . g for the encoder).
void time_variants(Bert& bert, std::vector<BertLayer>& layers, std::vector<Variant>& variants,
                   const SparseBenchConfig& cfg) {
  const BenchInputs in = bench_inputs(bert, cfg, /*requires_grad=*/cfg.train);
  const at::Tensor g_h = cfg.train ? torch::randn({cfg.batch, cfg.seq_len, bert->config().hidden_size}) : at::Tensor();
  auto linears = [&] {
    at::Tensor loss;
    run_linears(layers, in.x_h, in.x_i, [&](const at::Tensor& y) {
      if (cfg.train) loss = loss.defined() ? loss + y.sum() : y.sum();
    });
    if (cfg.train) loss.backward();
  };
  auto encoder = [&] {
    const at::Tensor h = bert->bert->encode(bert->bert->embed(in.ids, in.types), in.attention).last_hidden_state;
    if (cfg.train) (h * g_h).sum().backward();
    LTH_CHECK(h.size(0) == cfg.batch, ShapeError, "encoder returned {} sequences", h.size(0));
  };
  using Clock = std::chrono::steady_clock;
  auto time_rounds = [&](const std::function<void()>& step, std::vector<double> Variant::*seconds, const char* what) {
    for (int round = 0; round < cfg.warmup + cfg.reps; ++round) {
      for (auto& v : variants) {
        install(layers, v);
        if (cfg.train) bert->zero_grad();
        const auto t0 = Clock::now();
        step();
        if (round >= cfg.warmup) (v.*seconds).push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      }
      log::debug("bench", "{} round {} done", what, round);
    }
  };
  time_rounds(linears, &Variant::linear_s, "Linear");
  if (!cfg.linear_only) time_rounds(encoder, &Variant::encoder_s, "encoder");
  clear_packed_weights(bert);
}

nlohmann::json rows_json(const std::vector<Variant>& variants, const SparseBenchConfig& cfg, bool encoder) {
  const int64_t tokens = cfg.batch * cfg.seq_len;
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
}

std::string render_table(const char* title, const nlohmann::json& rs) {
  std::string out = fmt::format("\n{}\n", title);
  out += fmt::format("  {:>8}  {:<6}  {:>13}  {:>10}  {:>11}  {:>10}  {:>8}  {:>11}\n", "sparsity", "kernel",
                     "sparse/total", "ms/batch", "sequences/s", "tokens/s", "speedup", "weights MiB");
  for (const auto& r : rs) {
    out += fmt::format("  {:>8.3f}  {:<6}  {:>13}  {:>10.1f}  {:>11.1f}  {:>10.0f}  {:>7.2f}x  {:>11.1f}\n",
                       r["sparsity"].get<double>(), r["kernel"].get<std::string>(),
                       fmt::format("{}/{}", r["sparse_matrices"].get<int64_t>(),
                                   r["sparse_matrices"].get<int64_t>() + r["dense_matrices"].get<int64_t>()),
                       r["ms_per_batch"].get<double>(), r["sequences_per_s"].get<double>(),
                       r["tokens_per_s"].get<double>(), r["speedup"].get<double>(),
                       static_cast<double>(r["weight_bytes"].get<uint64_t>()) / (1024.0 * 1024.0));
  }
  return out;
}

}  // namespace

Bert bench_model(const std::string& name, std::string* label) {
  if (name == "bert-base" || name == "bert-tiny") {
    BertConfig c;
    if (name == "bert-tiny") {  // google/bert_uncased_L-2_H-128_A-2
      c.hidden_size = 128;
      c.num_hidden_layers = 2;
      c.num_attention_heads = 2;
      c.intermediate_size = 512;
    }
    torch::manual_seed(0);
    *label = name + " (random init)";
    return Bert(c);
  }
  *label = name;
  return load_pretrained(name);
}

nlohmann::json bench_sparse(Bert& bert, const std::string& label, const std::vector<BenchMask>& masks,
                            const SparseBenchConfig& cfg) {
  const c10::AutoGradMode grad_mode(cfg.train);  // gradients only for training steps
  auto layers = layers_of(bert);
  std::vector<Variant> variants = build_variants(bert, layers, masks, cfg);
  log::info("bench", "{}: {} {} variants, batch {} x seq {}, {} threads, kernel {}; {} warm-up + {} timed rounds",
            label, variants.size(), cfg.train ? "training" : "inference", cfg.batch, cfg.seq_len,
            at::get_num_threads(), ops::isa_name(ops::selected_isa()), cfg.warmup, cfg.reps);
  const bool was_training = bert->is_training();
  if (cfg.train) bert->train();  // dropout on, as in a training step
  time_variants(bert, layers, variants, cfg);
  bert->train(was_training);
  const auto& c = bert->config();
  nlohmann::json result = {{"model", label},
                           {"layers", c.num_hidden_layers},
                           {"hidden_size", c.hidden_size},
                           {"batch", cfg.batch},
                           {"seq_len", cfg.seq_len},
                           {"threads", at::get_num_threads()},
                           {"isa", ops::isa_name(ops::selected_isa())},
                           {"warmup", cfg.warmup},
                           {"reps", cfg.reps},
                           {"interleaved", true},
                           {"mode", cfg.train ? "train" : "inference"}};
  if (cfg.linear_only) {
    result["rows"] = rows_json(variants, cfg, false);
  } else {
    result["rows"] = rows_json(variants, cfg, true);
    result["linear_rows"] = rows_json(variants, cfg, false);
  }
  result["peak_rss_bytes"] = peak_rss_bytes();
  return result;
}

std::string render_sparse_bench(const nlohmann::json& result, bool linear_only) {
  const int64_t batch = result["batch"].get<int64_t>(), seq_len = result["seq_len"].get<int64_t>();
  std::string out = fmt::format("{}: {} layers, hidden {}; batch {} x seq {} = {} tokens; {} threads; sparse kernel {}\n",
                                result["model"].get<std::string>(), result["layers"].get<int64_t>(),
                                result["hidden_size"].get<int64_t>(), batch, seq_len, batch * seq_len,
                                result["threads"].get<int>(), result["isa"].get<std::string>());
  out += fmt::format("medians of {} interleaved rounds after {} warm-up; speedup = dense time / variant time\n",
                     result["reps"].get<int>(), result["warmup"].get<int>());
  const bool train = result.value("mode", "inference") == "train";
  if (train) out += "training: one forward + backward per batch (fp32; the optimizer step is not timed)\n";
  if (!linear_only) {
    out += render_table(train ? "encoder training step (embeddings + all layers, forward + backward)"
                              : "encoder (embeddings + all layers)",
                        result["rows"]);
  }
  out += render_table(train ? "Linear layers only, forward + backward (input and weight gradients)"
                            : "Linear layers only (Q, K, V, attention output, intermediate, output of every layer)",
                      linear_only ? result["rows"] : result["linear_rows"]);
  out += fmt::format("\npeak RSS (VmHWM): {:.1f} MiB\n",
                     static_cast<double>(result["peak_rss_bytes"].get<uint64_t>()) / (1024.0 * 1024.0));
  return out;
}

}  // namespace lth::model
