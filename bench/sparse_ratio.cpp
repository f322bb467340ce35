// sparse_ratio: dense at::addmm vs the sparse CSR kernel at BERT shapes, timed interleaved.
//
// For each layer shape x sparsity it alternates dense and sparse samples (A B A B ...), each sample
// long enough (>= --min-ms) to hide timer noise, and reports the median of the per-pair ratios
// dense/sparse. Interleaving cancels the slow drifts of this CPU's clock between two speed levels.
// Both sides write into a preallocated output (kernel vs kernel; no allocation in the timed loop).
//
//   sparse_ratio [--threads 2] [--pairs 9] [--min-ms 30] [--tokens 4096] [--isa avx512]
//                [--mask uniform|magnitude] [--model base|tiny|all] [--sparsities 0.5,0.7,...]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bench/sparse_weights.h"
#include "core/runtime.h"
#include "ops/isa.h"
#include "ops/sparse_linear.h"
#include "bench/bench_util.h"

namespace {

using lth::bench::median;

struct Shape {
  const char* name;
  int64_t out;
  int64_t in;
};

template <class F>
double time_ms(F&& f, int iters) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / iters;
}

// Iterations so that one sample takes at least min_ms.
template <class F>
int calibrate(F&& f, double min_ms) {
  f();
  const double once = time_ms(f, 1);
  return std::max(1, static_cast<int>(min_ms / std::max(once, 1e-3)) + 1);
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stod(item));
  return out;
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: sparse_ratio [--threads N] [--pairs N] [--min-ms MS] [--tokens N] [--isa NAME]\n"
               "                    [--mask uniform|magnitude] [--model base|tiny|all] [--sparsities a,b,...]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, pairs = 9;
  double min_ms = 30.0;
  int64_t tokens = 4096;
  std::string isa_arg, mask = "uniform", model = "all";
  std::vector<double> sparsities = {0.5, 0.6, 0.7, 0.8, 0.9, 0.95};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage();
    const std::string v = argv[++i];
    if (a == "--threads") threads = std::stoi(v);
    else if (a == "--pairs") pairs = std::stoi(v);
    else if (a == "--min-ms") min_ms = std::stod(v);
    else if (a == "--tokens") tokens = std::stoll(v);
    else if (a == "--isa") isa_arg = v;
    else if (a == "--mask") mask = v;
    else if (a == "--model") model = v;
    else if (a == "--sparsities") sparsities = parse_list(v);
    else usage();
  }
  if (mask != "uniform" && mask != "magnitude") usage();
  const lth::bench::MaskKind kind = mask == "uniform" ? lth::bench::MaskKind::kUniform : lth::bench::MaskKind::kMagnitude;
  const lth::ops::SparseIsa isa = isa_arg.empty() ? lth::ops::selected_isa() : lth::ops::parse_isa(isa_arg);
  if (!lth::ops::isa_supported(isa)) {
    std::fprintf(stderr, "sparse_ratio: path %s not supported here\n", lth::ops::isa_name(isa));
    return 2;
  }
  threads = lth::setup_threads(threads);

  std::vector<Shape> shapes;
  if (model == "base" || model == "all") {
    shapes.push_back({"base 768x768 (QKV/attn-out)", 768, 768});
    shapes.push_back({"base 3072x768 (ffn in)", 3072, 768});
    shapes.push_back({"base 768x3072 (ffn out)", 768, 3072});
  }
  if (model == "tiny" || model == "all") {
    shapes.push_back({"tiny 128x128", 128, 128});
    shapes.push_back({"tiny 512x128", 512, 128});
    shapes.push_back({"tiny 128x512", 128, 512});
  }
  if (shapes.empty()) usage();

  std::printf("# sparse_ratio: tokens=%lld threads=%d isa=%s mask=%s pairs=%d min-ms=%.0f blas=%s\n",
              static_cast<long long>(tokens), threads, lth::ops::isa_name(isa), mask.c_str(), pairs, min_ms,
              lth::detect_blas().kind.c_str());
  std::printf("%-30s %8s %8s %11s %11s %8s\n", "shape [out x in]", "sparsity", "density", "dense ms", "sparse ms",
              "speedup");
  for (const Shape& s : shapes) {
    const at::Tensor x = torch::randn({tokens, s.in});
    const at::Tensor bias = torch::randn({s.out}) * 0.1;
    at::Tensor y_dense = torch::empty({tokens, s.out});
    at::Tensor y_sparse = torch::empty({tokens, s.out});
    std::vector<std::pair<double, double>> curve;  // (density, median ratio)
    for (double sp : sparsities) {
      const at::Tensor w = lth::bench::pruned_weight(s.out, s.in, sp, kind, 42);
      const at::Tensor wt = w.t();
      const lth::ops::PackedSparse p = lth::ops::pack(w);
      auto dense = [&] { at::addmm_out(y_dense, bias, x, wt); };
      auto sparse = [&] {
        lth::ops::sparse_linear_raw(p, x.data_ptr<float>(), tokens, bias.data_ptr<float>(), y_sparse.data_ptr<float>(),
                                    isa, threads);
      };
      const int n_dense = calibrate(dense, min_ms);
      const int n_sparse = calibrate(sparse, min_ms);
      std::vector<double> td, ts, ratio;
      for (int r = 0; r < pairs; ++r) {
        td.push_back(time_ms(dense, n_dense));
        ts.push_back(time_ms(sparse, n_sparse));
        ratio.push_back(td.back() / ts.back());
      }
      const double err = (y_dense - y_sparse).abs().max().item<double>();
      if (err > 1e-3 * (1.0 + y_dense.abs().max().item<double>())) {
        std::fprintf(stderr, "sparse_ratio: sparse result differs from dense by %g\n", err);
        return 1;
      }
      const double r = median(ratio);
      curve.emplace_back(p.density(), r);
      std::printf("%-30s %8.2f %8.3f %11.3f %11.3f %7.2fx\n", s.name, sp, p.density(), median(td), median(ts), r);
      std::fflush(stdout);
    }
    // Crossover: the density where the ratio crosses 1, interpolated linearly between measured points.
    std::sort(curve.begin(), curve.end());
    std::string cross = "not reached";
    for (std::size_t i = 0; i + 1 < curve.size(); ++i) {
      const auto [d0, r0] = curve[i];
      const auto [d1, r1] = curve[i + 1];
      if (r0 >= 1.0 && r1 < 1.0) {
        const double d = d0 + (r0 - 1.0) * (d1 - d0) / (r0 - r1);
        char buf[64];
        std::snprintf(buf, sizeof(buf), "density %.3f (sparsity %.3f)", d, 1.0 - d);
        cross = buf;
      }
    }
    if (!curve.empty() && curve.back().second >= 1.0) cross = "beyond the densest point measured";
    std::printf("%-30s crossover: %s\n", s.name, cross.c_str());
  }
  return 0;
}
