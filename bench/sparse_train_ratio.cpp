// sparse_train_ratio: the three products of one masked Linear's training step, dense vs sparse, at
// BERT-base shapes, timed interleaved (dense fwd, sparse fwd, dense dx, sparse dx, dense dW, sparse
// dW, repeated; medians of per-round times). The sparse dW includes the two transposes into token
// panels it needs; "step" is the whole autograd forward + backward of at::linear(x, W * mask) vs
// ops::masked_sparse_linear. It says which of the products bounds sparse training at a sparsity.
//
//   sparse_train_ratio [--threads 2] [--rounds 5] [--tokens 1024] [--sparsities 0.5,0.7,0.8,0.9,0.95]
//                      [--model base|tiny]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/runtime.h"
#include "ops/isa.h"
#include "ops/sparse_train.h"

namespace {

using lth::bench::median;

double ms(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 5;
  int64_t tokens = 1024;
  std::string model = "base";
  std::vector<double> sparsities{0.5, 0.7, 0.8, 0.9, 0.95};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--threads") threads = std::atoi(v.c_str());
    else if (a == "--rounds") rounds = std::atoi(v.c_str());
    else if (a == "--tokens") tokens = std::atoll(v.c_str());
    else if (a == "--model") model = v;
    else if (a == "--sparsities") {
      sparsities.clear();
      std::stringstream ss(v);
      for (std::string s; std::getline(ss, s, ',');) sparsities.push_back(std::atof(s.c_str()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  threads = lth::setup_threads(threads);
  const lth::ops::SparseIsa isa = lth::ops::selected_isa();
  std::printf("tokens %lld, %d threads, kernel %s, %d interleaved rounds (medians, ms)\n",
              static_cast<long long>(tokens), threads, lth::ops::isa_name(isa), rounds);
  std::printf("%-10s %8s | %8s %8s %6s | %8s %8s %6s | %8s %8s %6s | %8s %8s %6s\n", "shape", "sparsity", "fwd d",
              "fwd s", "x", "dx d", "dx s", "x", "dW d", "dW s", "x", "step d", "step s", "x");
  struct Shape {
    const char* name;
    int64_t out, in;
  };
  const std::vector<Shape> shapes =
      model == "tiny" ? std::vector<Shape>{{"128x128", 128, 128}, {"512x128", 512, 128}, {"128x512", 128, 512}}
                      : std::vector<Shape>{{"768x768", 768, 768}, {"3072x768", 3072, 768}, {"768x3072", 768, 3072}};
  for (const Shape& shape : shapes) {
    for (double sparsity : sparsities) {
      torch::manual_seed(1);
      const at::Tensor mask = (torch::rand({shape.out, shape.in}) >= sparsity).to(torch::kFloat32);
      const at::Tensor w = torch::randn({shape.out, shape.in}) * mask;
      const at::Tensor b = torch::randn({shape.out});
      const at::Tensor x = torch::randn({tokens, shape.in});
      const at::Tensor dy = torch::randn({tokens, shape.out});
      const auto pattern = lth::ops::sparse_pattern(mask);
      std::vector<double> t[8];
      for (int r = 0; r < rounds + 1; ++r) {
        double m[8];
        {
          torch::NoGradGuard ng;
          m[0] = ms([&] { at::linear(x, w, b); });
          m[1] = ms([&] { lth::ops::masked_sparse_linear(x, w, b, *pattern, isa); });
          m[2] = ms([&] { at::mm(dy, w); });
        }
        // Sparse dx and dW alone: autograd with only x (resp. only W) requiring a gradient.
        {
          const at::Tensor xg = x.clone().requires_grad_(true);
          const at::Tensor y = lth::ops::masked_sparse_linear(xg, w, at::Tensor(), *pattern, isa);
          m[3] = ms([&] { y.backward(dy); });
        }
        {
          torch::NoGradGuard ng;
          m[4] = ms([&] { at::mm(dy.t(), x).mul_(mask); });
        }
        {
          const at::Tensor wg = w.clone().requires_grad_(true);
          const at::Tensor y = lth::ops::masked_sparse_linear(x, wg, at::Tensor(), *pattern, isa);
          m[5] = ms([&] { y.backward(dy); });
        }
        {
          const at::Tensor xg = x.clone().requires_grad_(true), wg = w.clone().requires_grad_(true);
          const at::Tensor bg = b.clone().requires_grad_(true);
          m[6] = ms([&] { at::linear(xg, wg * mask, bg).backward(dy); });
        }
        {
          const at::Tensor xg = x.clone().requires_grad_(true), wg = w.clone().requires_grad_(true);
          const at::Tensor bg = b.clone().requires_grad_(true);
          m[7] = ms([&] { lth::ops::masked_sparse_linear(xg, wg, bg, *pattern, isa).backward(dy); });
        }
        if (r > 0) {  // the first round warms caches and scratch buffers
          for (int k = 0; k < 8; ++k) t[k].push_back(m[k]);
        }
      }
      double md[8];
      for (int k = 0; k < 8; ++k) md[k] = median(t[k]);
      std::printf("%-10s %8.2f | %8.2f %8.2f %5.2fx | %8.2f %8.2f %5.2fx | %8.2f %8.2f %5.2fx | %8.2f %8.2f %5.2fx\n",
                  shape.name, sparsity, md[0], md[1], md[0] / md[1], md[2], md[3], md[2] / md[3], md[4], md[5],
                  md[4] / md[5], md[6], md[7], md[6] / md[7]);
      std::fflush(stdout);
    }
  }
  return 0;
}
