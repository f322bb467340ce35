// dropout_ratio: LibTorch's at::dropout vs lth's ops::dropout (hashed random stream) on the
// activation shapes one BERT training step drops, timed interleaved (A B A B ...); prints the
// median per-pair ratio per shape.
//
//   dropout_ratio [--threads 1] [--pairs 9]
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "ops/dropout.h"
#include "bench/bench_util.h"

using lth::bench::median;
using lth::bench::micros;

int main(int argc, char** argv) {
  int threads = 1, pairs = 9;
  if (!lth::bench::parse_threads_pairs(argc, argv, "dropout_ratio", &threads, &pairs)) return 2;
  at::set_num_threads(threads);
  struct Shape {
    const char* name;
    std::vector<int64_t> sizes;
  };
  // Batch 32 x 64 tokens: hidden activations and attention probabilities of BERT-Tiny (128, 2 heads),
  // MiniLM (384, 12 heads) and BERT-base (768, 12 heads).
  const std::vector<Shape> shapes = {{"tiny hidden [32,64,128]", {32, 64, 128}},
                                     {"tiny attention [32,2,64,64]", {32, 2, 64, 64}},
                                     {"minilm hidden [32,64,384]", {32, 64, 384}},
                                     {"base hidden [32,64,768]", {32, 64, 768}},
                                     {"base attention [32,12,64,64]", {32, 12, 64, 64}}};
  std::printf("| shape | at::dropout (us) | ops::dropout (us) | ratio |\n|---|---:|---:|---:|\n");
  for (const auto& s : shapes) {
    const auto x = torch::randn(s.sizes);
    std::vector<double> a, b, r;
    for (int k = 0; k < pairs; ++k) {
      a.push_back(micros([&] { auto y = at::dropout(x, 0.1, true); }, 5));
      b.push_back(micros([&] { auto y = lth::ops::dropout(x, 0.1, true); }, 5));
      r.push_back(a.back() / b.back());
    }
    std::printf("| %s | %.0f | %.0f | %.1fx |\n", s.name, median(a), median(b), median(r));
  }
  std::printf("threads %d, %d interleaved pairs of 5 calls each, p = 0.1, fp32\n", threads, pairs);
  return 0;
}
