// Google Benchmark timings: dense at::linear vs sparse_linear (selected path; set LTH_SPARSE_ISA to
// force one) at BERT-base and tiny shapes, 4096 tokens, sparsities 0.5 .. 0.95, 2 threads.
// Absolute times drift with this CPU's clock; the ratio table comes from sparse_ratio (interleaved).
//
// Args: {out, in, sparsity in percent, mask (0 uniform, 1 magnitude)}.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <map>
#include <tuple>

#include "bench/sparse_weights.h"
#include "core/runtime.h"
#include "ops/sparse_linear.h"

namespace {

constexpr int64_t kTokens = 4096;

struct Case {
  at::Tensor x, w, bias;
  lth::ops::PackedSparse packed;
};

// Weights are built once per argument set (pruning 2.4M weights is slower than the op itself).
const Case& get_case(const benchmark::State& state) {
  static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, Case> cache;
  const auto key = std::make_tuple(state.range(0), state.range(1), state.range(2), state.range(3));
  auto it = cache.find(key);
  if (it == cache.end()) {
    Case c;
    const auto kind = state.range(3) ? lth::bench::MaskKind::kMagnitude : lth::bench::MaskKind::kUniform;
    c.w = lth::bench::pruned_weight(state.range(0), state.range(1), state.range(2) / 100.0, kind, 42);
    c.x = torch::randn({kTokens, state.range(1)});
    c.bias = torch::randn({state.range(0)});
    c.packed = lth::ops::pack(c.w);
    it = cache.emplace(key, std::move(c)).first;
  }
  return it->second;
}

void set_counters(benchmark::State& state, const Case& c) {
  state.counters["density"] = c.packed.density();
  state.SetItemsProcessed(state.iterations() * kTokens);
}

void BM_DenseLinear(benchmark::State& state) {
  const Case& c = get_case(state);
  for (auto _ : state) benchmark::DoNotOptimize(at::linear(c.x, c.w, c.bias));
  set_counters(state, c);
}

void BM_SparseLinear(benchmark::State& state) {
  const Case& c = get_case(state);
  for (auto _ : state) benchmark::DoNotOptimize(lth::ops::sparse_linear(c.packed, c.x, c.bias));
  set_counters(state, c);
}

// LibTorch's own CSR sparse matmul, for reference.
void BM_TorchSparseCsr(benchmark::State& state) {
  const Case& c = get_case(state);
  const at::Tensor w_csr = c.w.to_sparse_csr();
  const at::Tensor xt = c.x.t().contiguous();
  for (auto _ : state) benchmark::DoNotOptimize(at::addmm(c.bias.unsqueeze(1), w_csr, xt));
  set_counters(state, c);
}

void shapes(benchmark::internal::Benchmark* b) {
  const int64_t dims[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {128, 128}, {512, 128}, {128, 512}};
  for (const auto& d : dims) {
    for (int64_t sp : {50, 70, 80, 90, 95}) b->Args({d[0], d[1], sp, 0});
    b->Args({d[0], d[1], 90, 1});
  }
  b->ArgNames({"out", "in", "sparsity%", "magnitude"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_DenseLinear)->Apply(shapes);
BENCHMARK(BM_SparseLinear)->Apply(shapes);
BENCHMARK(BM_TorchSparseCsr)->Apply(shapes);

int main(int argc, char** argv) {
  lth::setup_threads(2);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
