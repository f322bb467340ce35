// attention_ratio: attention's two products (scores = scale q k^T, context = p v) by at::matmul, as
// LibTorch's bmm runs them, against ops::batched_matmul, forward + backward through the same
// softmax, on BERT shapes; timed interleaved (A B A B ...), median per-pair ratio per shape.
//
//   attention_ratio [--threads 2] [--pairs 9]
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "bench/bench_util.h"
#include "ops/batched_matmul.h"

namespace {

using lth::bench::median;

struct Shape {
  const char* name;
  int64_t batch, heads, length, head_dim;
};

// One attention block's products, forward and backward, from a [batch, length, hidden] input.
double step_micros(const Shape& s, const at::Tensor& x, const at::Tensor& mask, bool ops, int reps) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  return lth::bench::micros([&] {
    auto h = x.detach().requires_grad_(true);
    auto split = [&](const at::Tensor& t) { return t.view({s.batch, s.length, s.heads, s.head_dim}).permute({0, 2, 1, 3}); };
    const auto q = split(h), k = split(h * 0.5), v = split(h * 2.0);
    at::Tensor scores = ops ? lth::ops::batched_matmul(q, k.transpose(-1, -2), scale)
                            : at::matmul(q, k.transpose(-1, -2)) * scale;
    const auto p = torch::softmax(scores + mask, -1);
    const auto c = ops ? lth::ops::batched_matmul(p, v, 1.0, true) : at::matmul(p, v);
    const auto y = c.permute({0, 2, 1, 3}).contiguous().view({s.batch, s.length, s.heads * s.head_dim});
    y.sum().backward();
  }, reps);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, pairs = 9;
  if (!lth::bench::parse_threads_pairs(argc, argv, "attention_ratio", &threads, &pairs)) return 2;
  at::set_num_threads(threads);
  // Batch 32: padded to 128, and 32 tokens (a typical length-grouped SST-2 batch).
  const std::vector<Shape> shapes = {{"tiny L128 [32,2,128,64]", 32, 2, 128, 64},
                                     {"tiny L32 [32,2,32,64]", 32, 2, 32, 64},
                                     {"minilm L128 [32,12,128,32]", 32, 12, 128, 32},
                                     {"minilm L32 [32,12,32,32]", 32, 12, 32, 32},
                                     {"base L128 [32,12,128,64]", 32, 12, 128, 64},
                                     {"base L32 [32,12,32,64]", 32, 12, 32, 64}};
  std::printf("| shape | at::matmul (us) | ops::batched_matmul (us) | ratio |\n|---|---:|---:|---:|\n");
  for (const auto& s : shapes) {
    torch::manual_seed(1);
    const auto x = torch::randn({s.batch, s.length, s.heads * s.head_dim});
    const auto mask = torch::zeros({s.batch, 1, 1, s.length});
    const int reps = s.length * s.heads >= 128 * 12 ? 2 : 10;
    step_micros(s, x, mask, false, 1);  // warm-up
    step_micros(s, x, mask, true, 1);
    std::vector<double> a, b, r;
    for (int k = 0; k < pairs; ++k) {
      a.push_back(step_micros(s, x, mask, false, reps));
      b.push_back(step_micros(s, x, mask, true, reps));
      r.push_back(a.back() / b.back());
    }
    std::printf("| %s | %.0f | %.0f | %.2fx |\n", s.name, median(a), median(b), median(r));
  }
  std::printf("threads %d, %d interleaved pairs, fp32, forward + backward of both products and the softmax\n",
              threads, pairs);
  return 0;
}
