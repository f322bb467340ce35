// AdamW's lazy rows (train/adamw.h) against the dense update they replace: the same weights and
// moments bit for bit when both see the same gradient, whatever the order of catch-ups; the sparse
// gradient clipping against torch's; and the training loop with and without them.
#include <doctest/doctest.h>

#include <random>

#include <torch/torch.h>

#include "core/error.h"
#include "tests/testing.h"
#include "tests/train/fixtures.h"
#include "train/adamw.h"
#include "train/step.h"
#include "train/trainer.h"

namespace lt = lth::testing;

namespace {

// A sparse COO gradient over `rows` rows of width `cols`, with `nnz` row entries drawn at random
// (duplicates included, as an embedding's backward gives them).
at::Tensor sparse_rows(std::mt19937_64& rng, int64_t rows, int64_t cols, int64_t nnz) {
  std::uniform_int_distribution<int64_t> row(0, rows - 1);
  std::vector<int64_t> ids(static_cast<size_t>(nnz));
  for (auto& r : ids) r = row(rng);
  auto indices = torch::tensor(ids, torch::kLong).unsqueeze(0);
  return torch::sparse_coo_tensor(indices, torch::randn({nnz, cols}), {rows, cols});
}

struct Pair {
  lth::train::AdamW lazy, dense;
};

Pair make_pair(int64_t rows, int64_t cols, double weight_decay) {
  auto make = [&] {
    torch::manual_seed(11);
    std::vector<std::pair<std::string, at::Tensor>> params = {{"emb", torch::randn({rows, cols})},
                                                              {"bias", torch::randn({cols})}};
    lth::train::AdamWOptions o;
    o.weight_decay = weight_decay;
    return lth::train::AdamW(params, o, lth::train::decays_by_default);
  };
  Pair p{make(), make()};
  REQUIRE(p.lazy.set_lazy_rows("emb"));
  return p;
}

void check_same(lth::train::AdamW& a, lth::train::AdamW& b) {
  a.flush();
  b.flush();
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    const auto& name = a.parameters()[i].first;
    CAPTURE(name);
    CHECK(torch::equal(a.parameters()[i].second, b.parameters()[i].second));
    REQUIRE(a.exp_avg(name).defined() == b.exp_avg(name).defined());
    if (!a.exp_avg(name).defined()) continue;  // never had a gradient
    CHECK(torch::equal(a.exp_avg(name), b.exp_avg(name)));
    CHECK(torch::equal(a.exp_avg_sq(name), b.exp_avg_sq(name)));
  }
}

}  // namespace

TEST_SUITE("train.lazy_rows") {
  TEST_CASE("lazy rows give the dense update's weights and moments bit for bit") {
    // Rows touched every step, rarely, or never (those only decay); a width that is not a multiple of
    // the vector width; a learning rate that changes every step; catch-ups at random points, as the
    // loop's forwards do them; one dense gradient on the lazy parameter in the middle.
    for (double wd : {0.0, 0.1}) {
      CAPTURE(wd);
      const int64_t rows = 300, cols = 13;
      auto [lazy, dense] = make_pair(rows, cols, wd);
      std::mt19937_64 rng(5);
      const auto& pl = lazy.parameters();
      const auto& pd = dense.parameters();
      for (int step = 0; step < 40; ++step) {
        at::Tensor g = step == 17 ? torch::randn({rows, cols}) : sparse_rows(rng, rows / 3, cols, 20);
        if (g.is_sparse()) g = torch::sparse_coo_tensor(g._indices(), g._values(), {rows, cols});  // rows >= 100 untouched
        if (step % 3 == 0) lazy.catch_up(torch::randint(0, rows, {7, 5}, torch::kLong));
        const at::Tensor bias_grad = torch::randn({cols});
        pl[0].second.mutable_grad() = g;
        pd[0].second.mutable_grad() = g.is_sparse() ? g.coalesce().to_dense() : g.clone();
        pl[1].second.mutable_grad() = bias_grad.clone();
        pd[1].second.mutable_grad() = bias_grad.clone();
        const double lr = 1e-2 * (1.0 + 0.5 * std::sin(step));
        lazy.step(lr);
        dense.step(lr);
        lazy.zero_grad();
        dense.zero_grad();
      }
      // Before the flush, an untouched row of the lazy matrix is behind (it has not decayed yet).
      if (wd > 0) CHECK_FALSE(torch::equal(pl[0].second[rows - 1], pd[0].second[rows - 1]));
      CHECK_THROWS_AS(lazy.state(), lth::Error);  // moments pending: state() would save stale ones
      check_same(lazy, dense);
      CHECK_NOTHROW(lazy.state());
    }
  }

  TEST_CASE("catch_up brings exactly the rows asked for up to date") {
    auto [lazy, dense] = make_pair(50, 8, 0.05);
    std::mt19937_64 rng(9);
    for (int step = 0; step < 6; ++step) {
      const at::Tensor g = sparse_rows(rng, 50, 8, 4);
      lazy.parameters()[0].second.mutable_grad() = g;
      dense.parameters()[0].second.mutable_grad() = g.coalesce().to_dense();
      lazy.step(1e-2);
      dense.step(1e-2);
    }
    const at::Tensor ids = torch::tensor({3, 3, 49, 0, -1, 50, 1000}, torch::kLong);  // out-of-range ids are skipped
    lazy.catch_up(ids);
    for (int64_t r : {0, 3, 49}) CHECK(torch::equal(lazy.parameters()[0].second[r], dense.parameters()[0].second[r]));
    check_same(lazy, dense);
  }

  TEST_CASE("clip_grad_norm: dense gradients as torch's clip_grad_norm_, sparse ones as their dense form") {
    torch::manual_seed(2);
    std::mt19937_64 rng(4);
    at::Tensor a = torch::randn({20, 6}), b = torch::randn({6}), c = torch::randn({20, 6});
    at::Tensor a2 = a.clone(), b2 = b.clone(), c2 = c.clone();
    const at::Tensor ga = torch::randn({20, 6}) * 3, gb = torch::randn({6}) * 3, gc = sparse_rows(rng, 20, 6, 9) * 3;
    a.mutable_grad() = ga.clone();
    b.mutable_grad() = gb.clone();
    a2.mutable_grad() = ga.clone();
    b2.mutable_grad() = gb.clone();
    const double ours = lth::train::clip_grad_norm({a, b}, 1.0);
    const double theirs = torch::nn::utils::clip_grad_norm_(std::vector<at::Tensor>{a2, b2}, 1.0);
    CHECK(ours == theirs);
    CHECK(ours > 1.0);  // the case clips
    CHECK(torch::equal(a.grad(), a2.grad()));
    CHECK(torch::equal(b.grad(), b2.grad()));

    c.mutable_grad() = gc;
    c2.mutable_grad() = gc.coalesce().to_dense();
    const double sparse_norm = lth::train::clip_grad_norm({c}, 0.5);
    const double dense_norm = lth::train::clip_grad_norm({c2}, 0.5);
    CHECK(sparse_norm == doctest::Approx(dense_norm).epsilon(1e-6));
    CHECK((c.grad().to_dense() - c2.grad()).abs().max().item<double>() <= 1e-6);
    CHECK(c.grad().to_dense().norm().item<double>() == doctest::Approx(0.5).epsilon(1e-5));
  }

  TEST_CASE("the loop with lazy embedding rows trains as the dense update does (fixture BERT)") {
    // Same data, seed and settings; the sparse backward sums a batch's repeated tokens in another
    // order, so the weights agree to float rounding (grown by 16 steps at lr 1e-2), not bit for bit.
    auto train_once = [](bool lazy) {
      auto bert = lt::fixture_bert();
      std::vector<lth::train::Feature> data;
      std::mt19937_64 rng(7);
      std::uniform_int_distribution<int> id(5, 199), label(0, 1);
      for (int i = 0; i < 32; ++i) {
        lth::train::Feature f;
        f.input_ids = {2, id(rng), id(rng), id(rng), id(rng), 3};
        f.token_type_ids.assign(f.input_ids.size(), 0);
        f.labels = {label(rng)};
        data.push_back(f);
      }
      lth::train::TrainConfig c = lt::quick_config();
      c.length = "2ep";
      c.lr = 1e-2;
      c.weight_decay = 0.01;
      c.lazy_embedding_rows = lazy;
      lt::TempDir dir(lazy ? "train-lazy" : "train-dense");
      lth::train::train(bert, data, lth::train::LabelKind::kClass, 0, c, {}, dir.path());
      CHECK_FALSE(bert->bert->embeddings->word_embeddings->options.sparse());  // the loop turns them off again
      return bert->bert->embeddings->word_embeddings->weight.detach().clone();
    };
    const at::Tensor initial = lt::fixture_bert()->bert->embeddings->word_embeddings->weight.detach().clone();
    const at::Tensor lazy = train_once(true), dense = train_once(false);
    CHECK((lazy - dense).abs().max().item<double>() <= 1e-4);  // Adam divides tiny gradients by their own scale
    CHECK((lazy - initial).abs().max().item<double>() > 1e-2);  // the embeddings did train
    // Rows no batch reads (ids 200 and up) only decayed, in both.
    CHECK(torch::equal(lazy.slice(0, 200), dense.slice(0, 200)));
  }
}
