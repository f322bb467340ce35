// adamw_ratio: one AdamW step over a whole BERT's parameters, torch's op-by-op path vs the fused
// one-pass kernel, timed interleaved (A B A B ...) and reported as the median per-pair ratio.
//
//   adamw_ratio [--model tiny|base] [--threads 2] [--pairs 9]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/runtime.h"
#include "train/adamw.h"
#include "bench/bench_util.h"

namespace {

using lth::bench::median;

// Parameter shapes of a BERT encoder with an MLM-free classification head (vocab 30522).
std::vector<std::pair<std::string, at::Tensor>> bert_parameters(int64_t hidden, int64_t layers, int64_t ffn) {
  std::vector<std::pair<std::string, at::Tensor>> p;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { p.emplace_back(name, torch::randn(shape) * 0.02); };
  add("embeddings.word_embeddings.weight", {30522, hidden});
  add("embeddings.position_embeddings.weight", {512, hidden});
  add("embeddings.token_type_embeddings.weight", {2, hidden});
  for (int64_t l = 0; l < layers; ++l) {
    const std::string pre = "layer." + std::to_string(l) + ".";
    for (const char* m : {"query", "key", "value", "attention.output"}) {
      add(pre + m + ".weight", {hidden, hidden});
      add(pre + m + ".bias", {hidden});
    }
    add(pre + "intermediate.weight", {ffn, hidden});
    add(pre + "intermediate.bias", {ffn});
    add(pre + "output.weight", {hidden, ffn});
    add(pre + "output.bias", {hidden});
    add(pre + "LayerNorm.weight", {hidden});
    add(pre + "LayerNorm.bias", {hidden});
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "tiny";
  int threads = 2, pairs = 9;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--model") model = argv[i + 1];
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--pairs") pairs = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: adamw_ratio [--model tiny|base] [--threads N] [--pairs N]\n");
      return 2;
    }
  }
  threads = lth::setup_threads(threads);
  torch::manual_seed(1);
  const bool base = model == "base";
  auto make = [&](bool fused) {
    auto params = bert_parameters(base ? 768 : 128, base ? 12 : 2, base ? 3072 : 512);
    for (auto& [name, p] : params) p.mutable_grad() = torch::randn_like(p) * 1e-3;
    lth::train::AdamWOptions o;
    o.weight_decay = 0.01;
    o.fused = fused;
    return lth::train::AdamW(params, o, lth::train::decays_by_default);
  };
  auto reference = make(false);
  auto fused = make(true);
  int64_t numel = 0;
  for (const auto& [name, p] : fused.parameters()) numel += p.numel();
  const int iters = base ? 3 : 20;
  auto time_ms = [&](lth::train::AdamW& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) opt.step(1e-4);  // gradients stay: the same work every step
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters;
  };
  time_ms(reference);
  time_ms(fused);
  std::vector<double> ref_ms, fused_ms, ratios;
  for (int i = 0; i < pairs; ++i) {
    ref_ms.push_back(time_ms(reference));
    fused_ms.push_back(time_ms(fused));
    ratios.push_back(ref_ms.back() / fused_ms.back());
  }
  std::printf("| model | parameters | threads | op-by-op (ms/step) | fused (ms/step) | ratio |\n|---|---|---|---|---|---|\n");
  std::printf("| %s | %.1fM | %d | %.2f | %.2f | %.2fx |\n", model.c_str(), static_cast<double>(numel) / 1e6, threads,
              median(ref_ms), median(fused_ms), median(ratios));
  return 0;
}
