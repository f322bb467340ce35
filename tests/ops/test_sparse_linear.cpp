#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/isa.h"
#include "ops/sparse_linear.h"

using lth::ops::SparseIsa;

namespace {

std::vector<SparseIsa> supported_paths() {
  std::vector<SparseIsa> out;
  for (SparseIsa isa : {SparseIsa::kReference, SparseIsa::kPortable, SparseIsa::kAvx2, SparseIsa::kAvx512}) {
    if (lth::ops::isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

// The CPU flags the kernel lists in /proc/cpuinfo (empty where there is none).
std::set<std::string> cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  return flags;
}

// A [out, in] weight with roughly `density` kept entries at uniform random positions.
at::Tensor random_weight(int64_t out, int64_t in, double density, uint64_t seed) {
  torch::manual_seed(seed);
  const at::Tensor w = torch::randn({out, in});
  const at::Tensor keep = torch::rand({out, in}) < density;
  return w * keep.to(torch::kFloat32);
}

// Checks |got - want| <= atol * scale[t, r] + rtol * |want| elementwise, where scale is the product of
// the input row norm and the weight row norm (the size of the dot product's terms), and reports the
// worst element when it fails.
void expect_linear_close(const at::Tensor& got, const at::Tensor& want, const at::Tensor& x2d, const at::Tensor& w,
                         const std::string& what, double atol = 1e-4, double rtol = 1e-4) {
  REQUIRE(got.sizes() == want.sizes());
  const int64_t out = w.size(0);
  const at::Tensor g = got.reshape({-1, out});
  const at::Tensor e = want.reshape({-1, out});
  const at::Tensor scale = torch::outer(x2d.norm(2, 1), w.norm(2, 1)) + 1.0;
  const at::Tensor err = (g - e).abs();
  const at::Tensor bound = atol * scale + rtol * e.abs();
  const at::Tensor excess = err - bound;
  if (excess.numel() == 0) return;
  const int64_t worst = excess.argmax().item<int64_t>();
  const float worst_excess = excess.flatten()[worst].item<float>();
  INFO(what << ": worst at token " << worst / out << ", row " << worst % out << ": got "
            << g.flatten()[worst].item<float>() << " want " << e.flatten()[worst].item<float>() << " (abs err "
            << err.flatten()[worst].item<float>() << ")");
  CHECK(worst_excess <= 0.0f);
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("isa names round-trip and the baseline paths are always available") {
    for (SparseIsa isa : {SparseIsa::kReference, SparseIsa::kPortable, SparseIsa::kAvx2, SparseIsa::kAvx512}) {
      CHECK(lth::ops::parse_isa(lth::ops::isa_name(isa)) == isa);
    }
    CHECK_THROWS_AS(lth::ops::parse_isa("sse9"), lth::ConfigError);
    CHECK(lth::ops::isa_supported(SparseIsa::kReference));
    CHECK(lth::ops::isa_supported(SparseIsa::kPortable));
    CHECK(lth::ops::isa_supported(lth::ops::best_isa()));
    CHECK(lth::ops::isa_supported(lth::ops::selected_isa()));
    MESSAGE("paths on this CPU: best = " << std::string(lth::ops::isa_name(lth::ops::best_isa()))
                                        << ", selected = " << std::string(lth::ops::isa_name(lth::ops::selected_isa())));
  }

  TEST_CASE("a SIMD path the CPU has is available, so the tests of every path never skip it") {
    // Independent truth: the kernel's /proc/cpuinfo. The other tests run each supported path and
    // skip the rest; this one fails when a path this CPU could run is not offered.
    const auto flags = cpuinfo_flags();
#if defined(__x86_64__)
    REQUIRE_MESSAGE(!flags.empty(), "no flags line in /proc/cpuinfo");
#endif
    if (flags.empty()) return;  // not x86 Linux: only the portable paths exist
    auto has = [&](const char* f) { return flags.count(f) == 1; };
    const bool avx2 = has("avx2") && has("fma");
    const bool avx512 = avx2 && has("avx512f") && has("avx512bw") && has("avx512vl");
    CHECK(lth::ops::isa_supported(SparseIsa::kAvx2) == avx2);
    CHECK(lth::ops::isa_supported(SparseIsa::kAvx512) == avx512);
    CHECK(lth::ops::best_isa() == (avx512 ? SparseIsa::kAvx512 : avx2 ? SparseIsa::kAvx2 : SparseIsa::kPortable));
    const auto paths = supported_paths();
    CHECK(paths.size() == 2u + avx2 + avx512);
  }

  TEST_CASE("pack keeps exactly the nonzeros and round-trips") {
    const at::Tensor w = random_weight(37, 29, 0.3, 1);
    const lth::ops::PackedSparse p = lth::ops::pack(w);
    CHECK(p.rows() == 37);
    CHECK(p.cols() == 29);
    CHECK(p.nnz() == w.count_nonzero().item<int64_t>());
    CHECK(p.density() == doctest::Approx(static_cast<double>(p.nnz()) / (37.0 * 29.0)));
    CHECK(p.bytes() == (38 + 2 * static_cast<std::size_t>(p.nnz())) * 4);
    CHECK(torch::equal(p.to_dense(), w));
    for (int64_t r = 0; r < p.rows(); ++r) {
      for (int32_t k = p.row_ptr()[r] + 1; k < p.row_ptr()[r + 1]; ++k) CHECK(p.col_idx()[k - 1] < p.col_idx()[k]);
    }
    const lth::ops::PackedSparse q =
        lth::ops::PackedSparse::from_csr(p.rows(), p.cols(), p.row_ptr(), p.col_idx(), p.values());
    CHECK(torch::equal(q.to_dense(), w));
    // Half precision input converts.
    CHECK(lth::ops::pack(w.to(torch::kFloat64)).nnz() == p.nnz());
  }

  TEST_CASE("from_csr rejects inconsistent arrays") {
    using lth::ops::PackedSparse;
    CHECK_THROWS_AS(PackedSparse::from_csr(2, 3, {0, 1}, {0}, {1.0f}), lth::ShapeError);
    CHECK_THROWS_AS(PackedSparse::from_csr(2, 3, {0, 1, 1}, {3}, {1.0f}), lth::ShapeError);
    CHECK_THROWS_AS(PackedSparse::from_csr(2, 3, {0, 2, 1}, {0, 1}, {1.0f, 2.0f}), lth::ShapeError);
    CHECK_THROWS_AS(PackedSparse::from_csr(2, 3, {0, 1, 2}, {0, 1}, {1.0f}), lth::ShapeError);
    CHECK_THROWS_AS(lth::ops::pack(torch::ones({2, 3, 4})), lth::ShapeError);
    const PackedSparse ok = PackedSparse::from_csr(2, 3, {0, 0, 2}, {0, 2}, {1.0f, 2.0f});
    CHECK(ok.nnz() == 2);
  }

  TEST_CASE("every path equals the reference and dense at::linear") {
    const std::vector<int64_t> ins = {1, 7, 33, 64, 130};
    const std::vector<int64_t> outs = {1, 5, 16, 17, 40};
    const std::vector<int64_t> token_counts = {1, 3, 17, 64, 65, 300};
    const std::vector<double> densities = {0.0, 0.1, 0.5, 1.0};
    uint64_t seed = 100;
    for (int64_t in : ins) {
      for (int64_t out : outs) {
        for (double density : densities) {
          const at::Tensor w = random_weight(out, in, density, ++seed);
          const lth::ops::PackedSparse p = lth::ops::pack(w);
          const at::Tensor bias = torch::randn({out});
          for (int64_t tokens : token_counts) {
            const at::Tensor x = torch::randn({tokens, in});
            for (bool with_bias : {false, true}) {
              const c10::optional<at::Tensor> b = with_bias ? c10::optional<at::Tensor>(bias) : c10::nullopt;
              const at::Tensor dense = at::linear(x, w, with_bias ? bias : at::Tensor());
              const at::Tensor ref = lth::ops::sparse_linear(p, x, b, SparseIsa::kReference);
              for (SparseIsa isa : supported_paths()) {
                const std::string what = std::string(lth::ops::isa_name(isa)) + " in=" + std::to_string(in) +
                                         " out=" + std::to_string(out) + " tokens=" + std::to_string(tokens) +
                                         " density=" + std::to_string(density) + (with_bias ? " +bias" : "");
                const at::Tensor y = lth::ops::sparse_linear(p, x, b, isa);
                expect_linear_close(y, ref, x, w, what + " vs reference", 1e-5, 1e-5);
                expect_linear_close(y, dense, x, w, what + " vs at::linear");
              }
            }
          }
        }
      }
    }
  }

  TEST_CASE("empty rows, fully pruned and fully dense matrices") {
    const int64_t out = 35, in = 48, tokens = 70;
    const at::Tensor x = torch::randn({tokens, in});
    const at::Tensor bias = torch::randn({out});
    at::Tensor w = random_weight(out, in, 0.2, 7);
    w.index_put_({torch::indexing::Slice(3, 20)}, 0.0);  // a run of empty rows across group boundaries
    w.index_put_({34}, 0.0);
    for (SparseIsa isa : supported_paths()) {
      CAPTURE(lth::ops::isa_name(isa));
      const lth::ops::PackedSparse p = lth::ops::pack(w);
      expect_linear_close(lth::ops::sparse_linear(p, x, bias, isa), at::linear(x, w, bias), x, w, "empty rows");

      const lth::ops::PackedSparse none = lth::ops::pack(torch::zeros({out, in}));
      CHECK(none.nnz() == 0);
      CHECK(none.density() == 0.0);
      CHECK(torch::equal(lth::ops::sparse_linear(none, x, bias, isa), bias.expand({tokens, out})));
      CHECK(torch::equal(lth::ops::sparse_linear(none, x, c10::nullopt, isa), torch::zeros({tokens, out})));

      const at::Tensor full = torch::randn({out, in});
      const lth::ops::PackedSparse all = lth::ops::pack(full);
      CHECK(all.density() == 1.0);
      expect_linear_close(lth::ops::sparse_linear(all, x, bias, isa), at::linear(x, full, bias), x, full, "dense");
    }
  }

  TEST_CASE("leading batch dims, non-contiguous input, zero tokens, single thread") {
    const at::Tensor w = random_weight(24, 40, 0.3, 11);
    const lth::ops::PackedSparse p = lth::ops::pack(w);
    const at::Tensor bias = torch::randn({24});
    for (SparseIsa isa : supported_paths()) {
      CAPTURE(lth::ops::isa_name(isa));
      const at::Tensor x = torch::randn({2, 3, 5, 40});
      const at::Tensor y = lth::ops::sparse_linear(p, x, bias, isa);
      CHECK(y.sizes() == at::IntArrayRef({2, 3, 5, 24}));
      expect_linear_close(y, at::linear(x, w, bias), x.reshape({-1, 40}), w, "batched");

      const at::Tensor xt = torch::randn({40, 9}).t();  // [9, 40], not contiguous
      expect_linear_close(lth::ops::sparse_linear(p, xt, bias, isa), at::linear(xt, w, bias), xt, w, "strided");

      CHECK(lth::ops::sparse_linear(p, torch::randn({0, 40}), bias, isa).sizes() == at::IntArrayRef({0, 24}));

      const at::Tensor x2 = torch::randn({257, 40});
      at::Tensor y1 = torch::empty({257, 24});
      lth::ops::sparse_linear_raw(p, x2.data_ptr<float>(), 257, bias.data_ptr<float>(), y1.data_ptr<float>(), isa, 1);
      expect_linear_close(y1, at::linear(x2, w, bias), x2, w, "one thread");
    }
    CHECK_THROWS_AS(lth::ops::sparse_linear(p, torch::randn({3, 41}), bias), lth::ShapeError);
    CHECK_THROWS_AS(lth::ops::sparse_linear(p, torch::randn({3, 40}), torch::randn({23})), lth::ShapeError);
    CHECK_THROWS_AS(lth::ops::sparse_linear(p, torch::randn({3, 40}).to(torch::kFloat64), bias), lth::ShapeError);
  }

  TEST_CASE("BERT-sized layer with a skewed row distribution") {
    // Global magnitude pruning leaves rows with very different lengths; check the big-tile path there.
    torch::manual_seed(5);
    const int64_t out = 192, in = 256, tokens = 512;
    const at::Tensor row_density = torch::linspace(0.0, 0.4, out).unsqueeze(1);
    const at::Tensor w = torch::randn({out, in}) * (torch::rand({out, in}) < row_density).to(torch::kFloat32);
    const lth::ops::PackedSparse p = lth::ops::pack(w);
    const at::Tensor x = torch::randn({tokens, in});
    const at::Tensor bias = torch::randn({out});
    for (SparseIsa isa : supported_paths()) {
      CAPTURE(lth::ops::isa_name(isa));
      expect_linear_close(lth::ops::sparse_linear(p, x, bias, isa), at::linear(x, w, bias), x, w, "skewed");
    }
  }

  TEST_CASE("should_use_sparse follows the measured crossover") {
    using lth::ops::sparse_crossover_density;
    // BERT-base at 90% sparsity is several times faster on the vector paths; dense weights never go sparse.
    for (SparseIsa isa : {SparseIsa::kAvx512, SparseIsa::kAvx2}) {
      CHECK(0.10 < sparse_crossover_density(isa, 768, 768));
      CHECK(0.10 < sparse_crossover_density(isa, 768, 3072));
      CHECK(sparse_crossover_density(isa, 768, 768) < 0.5);
    }
    CHECK(sparse_crossover_density(SparseIsa::kPortable, 768, 768) < 0.10);
    CHECK(sparse_crossover_density(SparseIsa::kReference, 768, 768) == 0.0);
    CHECK(lth::ops::should_use_sparse(0.05, 768, 768) == (lth::ops::selected_isa() != SparseIsa::kReference));
    CHECK_FALSE(lth::ops::should_use_sparse(0.9, 768, 3072));
    CHECK_FALSE(lth::ops::should_use_sparse(1.0, 128, 128));
    CHECK(lth::ops::should_use_sparse(0.38, 768, 768) == (lth::ops::selected_isa() == SparseIsa::kAvx512));
  }
}
