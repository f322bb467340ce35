// Collation with dynamic padding, epoch order, sharding a batch over ranks, and Step parsing.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include <torch/torch.h>

#include "core/error.h"
#include "core/step.h"
#include "train/data.h"
#include "train/dist.h"

using lth::train::Batch;
using lth::train::Feature;
using lth::train::LabelKind;

namespace {

Feature make_feature(int length, int32_t first_id) {
  Feature f;
  for (int i = 0; i < length; ++i) {
    f.input_ids.push_back(first_id + i);
    f.token_type_ids.push_back(static_cast<int8_t>(i >= length / 2));
    f.labels.push_back(i % 3);
  }
  f.target = 0.5f * static_cast<float>(length);
  f.start = 1;
  f.end = length - 1;
  return f;
}

std::vector<Feature> features_of_lengths(const std::vector<int>& lengths) {
  std::vector<Feature> out;
  for (std::size_t i = 0; i < lengths.size(); ++i) out.push_back(make_feature(lengths[i], 10 * static_cast<int32_t>(i) + 5));
  return out;
}

}  // namespace

TEST_SUITE("train.data") {
  TEST_CASE("collate pads to the longest feature of the batch") {
    const auto features = features_of_lengths({3, 7, 5, 2});
    const int64_t pad = 0;
    Batch b = lth::train::collate(features, {0, 2, 3}, LabelKind::kPerToken, pad);
    CHECK(b.input_ids.sizes() == torch::IntArrayRef({3, 5}));
    CHECK(b.attention_mask.sizes() == torch::IntArrayRef({3, 5}));
    CHECK(b.token_type_ids.sizes() == torch::IntArrayRef({3, 5}));
    CHECK(b.labels.sizes() == torch::IntArrayRef({3, 5}));
    CHECK(b.indices == std::vector<int64_t>{0, 2, 3});
    CHECK(torch::equal(b.attention_mask.sum(1), torch::tensor({3, 5, 2}, torch::kLong)));
    // Row 0: 3 ids then padding; labels -100 on padding.
    CHECK(torch::equal(b.input_ids[0], torch::tensor({5, 6, 7, 0, 0}, torch::kLong)));
    CHECK(torch::equal(b.labels[0], torch::tensor({0, 1, 2, -100, -100}, torch::kLong)));
    CHECK(torch::equal(b.token_type_ids[2], torch::tensor({0, 1, 0, 0, 0}, torch::kLong)));
    CHECK((b.input_ids.scalar_type() == torch::kLong));

    // The whole set pads to 7; pad_to makes it longer, never shorter.
    CHECK(lth::train::collate(features, {0, 1, 2, 3}, LabelKind::kNone, pad).input_ids.size(1) == 7);
    CHECK(lth::train::collate(features, {0, 3}, LabelKind::kNone, pad, 16).input_ids.size(1) == 16);
    CHECK(lth::train::collate(features, {1}, LabelKind::kNone, pad, 4).input_ids.size(1) == 7);
    CHECK_FALSE(lth::train::collate(features, {1}, LabelKind::kNone, pad).labels.defined());
    // Another pad id fills padding.
    CHECK(lth::train::collate(features, {3, 1}, LabelKind::kNone, 99).input_ids[0][6].item<int64_t>() == 99);
  }

  TEST_CASE("collate builds the label tensor each head needs") {
    const auto features = features_of_lengths({3, 6});
    Batch cls = lth::train::collate(features, {0, 1}, LabelKind::kClass, 0);
    CHECK(cls.labels.sizes() == torch::IntArrayRef({2}));
    CHECK(torch::equal(cls.labels, torch::tensor({0, 0}, torch::kLong)));
    Batch reg = lth::train::collate(features, {0, 1}, LabelKind::kRegression, 0);
    CHECK((reg.labels.scalar_type() == torch::kFloat));
    CHECK(torch::equal(reg.labels, torch::tensor({1.5f, 3.0f})));
    Batch span = lth::train::collate(features, {1, 0}, LabelKind::kSpan, 0);
    CHECK(torch::equal(span.labels, torch::tensor({1, 1}, torch::kLong)));
    CHECK(torch::equal(span.end_labels, torch::tensor({5, 2}, torch::kLong)));
    CHECK_THROWS_AS(lth::train::collate(features, {}, LabelKind::kClass, 0), lth::Error);
  }

  TEST_CASE("epoch_batches: a permutation of all indices, deterministic in (seed, epoch)") {
    std::vector<int> lengths;
    for (int i = 0; i < 203; ++i) lengths.push_back(1 + (i * 37) % 50);
    const auto features = features_of_lengths(lengths);
    for (bool group : {false, true}) {
      CAPTURE(group);
      const auto a = lth::train::epoch_batches(features, 8, 57, 0, group);
      CHECK(a.size() == 26);  // ceil(203 / 8)
      std::vector<int64_t> all;
      for (const auto& b : a) {
        CHECK(b.size() <= 8);
        CHECK_FALSE(b.empty());
        all.insert(all.end(), b.begin(), b.end());
      }
      std::sort(all.begin(), all.end());
      std::vector<int64_t> expected(features.size());
      std::iota(expected.begin(), expected.end(), 0);
      CHECK(all == expected);
      CHECK(lth::train::epoch_batches(features, 8, 57, 0, group) == a);
      CHECK(lth::train::epoch_batches(features, 8, 57, 1, group) != a);
      CHECK(lth::train::epoch_batches(features, 8, 58, 0, group) != a);
    }
    // Grouping by length reduces padding.
    auto padded = [&](const std::vector<std::vector<int64_t>>& batches) {
      int64_t total = 0;
      for (const auto& b : batches) {
        int64_t longest = 0;
        for (auto i : b) longest = std::max<int64_t>(longest, static_cast<int64_t>(features[static_cast<std::size_t>(i)].input_ids.size()));
        total += longest * static_cast<int64_t>(b.size());
      }
      return total;
    };
    CHECK(padded(lth::train::epoch_batches(features, 8, 57, 0, true)) <
          padded(lth::train::epoch_batches(features, 8, 57, 0, false)));
  }

  TEST_CASE("eval_batches cover every feature once, sorted by length when asked") {
    const auto features = features_of_lengths({4, 9, 1, 6, 3});
    const auto in_order = lth::train::eval_batches(features, 2, false);
    CHECK(in_order == std::vector<std::vector<int64_t>>{{0, 1}, {2, 3}, {4}});
    const auto sorted = lth::train::eval_batches(features, 2, true);
    std::multiset<int64_t> seen;
    for (const auto& b : sorted) seen.insert(b.begin(), b.end());
    CHECK(seen == std::multiset<int64_t>{0, 1, 2, 3, 4});
    // Longest first (lengths 9, 6, 4, 3, 1), so the largest batch is met first.
    CHECK(sorted == std::vector<std::vector<int64_t>>{{1, 3}, {0, 4}, {2}});
    // Equal lengths keep their input order (stable).
    const auto tied = lth::train::eval_batches(features_of_lengths({2, 5, 2, 5, 7}), 2, true);
    CHECK(tied == std::vector<std::vector<int64_t>>{{4, 1}, {3, 0}, {2}});
  }
}

namespace {

// A Dist that only knows its rank and world size (shard_batch needs nothing else).
class FakeDist : public lth::train::Dist {
 public:
  FakeDist(int rank, int world) : rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return "fake"; }
  void broadcast(at::Tensor&, int) override { FAIL("no collectives here"); }
  void all_reduce_sum(std::vector<at::Tensor>&) override { FAIL("no collectives here"); }
  std::vector<at::Tensor> all_gather(const at::Tensor&) override { FAIL("no collectives here"); return {}; }
  void barrier() override { FAIL("no collectives here"); }

 private:
  int rank_, world_;
};

// Shards `global` over `world` ranks; checks that the slices are contiguous blocks that put the
// batch back together in order, and returns each rank's (rows, loss factor).
std::vector<std::pair<int64_t, double>> shard_all(const Batch& global, LabelKind kind, int world) {
  std::vector<std::pair<int64_t, double>> out;
  std::vector<at::Tensor> ids, labels;
  std::vector<int64_t> indices;
  for (int r = 0; r < world; ++r) {
    Batch b = global;
    const double factor = lth::train::shard_batch(b, kind, FakeDist(r, world));
    const int64_t n = b.input_ids.size(0);
    CHECK(b.attention_mask.size(0) == n);
    CHECK(b.token_type_ids.size(0) == n);
    CHECK(b.labels.size(0) == n);
    if (global.end_labels.defined()) CHECK(b.end_labels.size(0) == n);
    CHECK(static_cast<int64_t>(b.indices.size()) == n);
    ids.push_back(b.input_ids);
    labels.push_back(b.labels);
    indices.insert(indices.end(), b.indices.begin(), b.indices.end());
    out.emplace_back(n, factor);
  }
  CHECK(torch::equal(torch::cat(ids), global.input_ids));
  CHECK(torch::equal(torch::cat(labels), global.labels));
  CHECK(indices == global.indices);
  return out;
}

}  // namespace

TEST_SUITE("train.dist") {
  TEST_CASE("shard_batch: odd batch sizes over 3 ranks, an empty rank, a partial last batch") {
    // n rows over w ranks: rank r takes [n r / w, n (r+1) / w); its loss factor is rows * w / n, so
    // that the mean over ranks of factor x (rank's mean loss) is the global batch's mean loss.
    std::vector<int64_t> all(7);
    std::iota(all.begin(), all.end(), 0);
    const auto features = features_of_lengths({3, 7, 5, 2, 4, 6, 1});
    const Batch seven = lth::train::collate(features, all, LabelKind::kClass, 0);
    auto s = shard_all(seven, LabelKind::kClass, 3);
    REQUIRE(s.size() == 3);
    CHECK(s[0].first == 2);
    CHECK(s[1].first == 2);
    CHECK(s[2].first == 3);
    CHECK(s[0].second == doctest::Approx(6.0 / 7).epsilon(1e-15));
    CHECK(s[1].second == doctest::Approx(6.0 / 7).epsilon(1e-15));
    CHECK(s[2].second == doctest::Approx(9.0 / 7).epsilon(1e-15));
    // 2 rows over 3 ranks: rank 0 holds none (factor 0: it skips the forward pass).
    const Batch two = lth::train::collate(features, {5, 6}, LabelKind::kClass, 0);
    s = shard_all(two, LabelKind::kClass, 3);
    CHECK(s[0].first == 0);
    CHECK(s[0].second == 0.0);
    CHECK(s[1].first == 1);
    CHECK(s[1].second == doctest::Approx(1.5).epsilon(1e-15));
    CHECK(s[2].first == 1);
    CHECK(s[2].second == doctest::Approx(1.5).epsilon(1e-15));
    // The partial last batch of an epoch (5 of 16 examples left) over 2 ranks: 2 and 3 rows.
    const Batch last = lth::train::collate(features, {2, 3, 4, 5, 6}, LabelKind::kSpan, 0);
    s = shard_all(last, LabelKind::kSpan, 2);
    CHECK(s[0].first == 2);
    CHECK(s[0].second == doctest::Approx(0.8).epsilon(1e-15));
    CHECK(s[1].first == 3);
    CHECK(s[1].second == doctest::Approx(1.2).epsilon(1e-15));
    // One rank: the whole batch, factor 1.
    s = shard_all(seven, LabelKind::kClass, 1);
    CHECK(s[0].first == 7);
    CHECK(s[0].second == 1.0);
  }

  TEST_CASE("shard_batch: per-token labels weigh ranks by their labelled tokens") {
    std::vector<int64_t> all(5);
    std::iota(all.begin(), all.end(), 0);
    Batch b = lth::train::collate(features_of_lengths({3, 7, 5, 2, 4}), all, LabelKind::kPerToken, 0);
    // Labelled tokens per row, by hand: padding is -100; also unlabel row 3 completely.
    b.labels.index_put_({3}, -100);
    const auto per_row = b.labels.ne(-100).sum(1);
    const std::vector<int64_t> want_rows = {3, 7, 5, 0, 4};
    for (int64_t r = 0; r < 5; ++r) CHECK(per_row[r].item<int64_t>() == want_rows[static_cast<std::size_t>(r)]);
    // 3 ranks: rows [0,1) [1,3) [3,5) hold 3, 12 and 4 of the 19 labelled tokens.
    const auto s = shard_all(b, LabelKind::kPerToken, 3);
    CHECK(s[0].first == 1);
    CHECK(s[1].first == 2);
    CHECK(s[2].first == 2);
    CHECK(s[0].second == doctest::Approx(3.0 * 3 / 19).epsilon(1e-15));
    CHECK(s[1].second == doctest::Approx(12.0 * 3 / 19).epsilon(1e-15));
    CHECK(s[2].second == doctest::Approx(4.0 * 3 / 19).epsilon(1e-15));
    double sum = 0;
    for (const auto& [rows, f] : s) sum += f;
    CHECK(sum == doctest::Approx(3.0).epsilon(1e-15));  // factors average to 1
  }
}

TEST_SUITE("core.step") {
  TEST_CASE("Step::parse accepts epochs, iterations and both") {
    using lth::Step;
    CHECK(Step::parse("3ep").epochs == 3);
    CHECK(Step::parse("3ep").iterations == 0);
    CHECK(Step::parse("1000it").iterations == 1000);
    CHECK(Step::parse("1000it").epochs == 0);
    const Step s = Step::parse("2ep100it");
    CHECK(s.epochs == 2);
    CHECK(s.iterations == 100);
    CHECK(s.resolve(50) == 200);
    CHECK(Step::parse("42").iterations == 42);  // a bare number is iterations
    CHECK(Step::parse("0it").is_zero());
    CHECK(Step::parse("0ep").is_zero());
    CHECK(Step::parse("2ep100it").str() == "2ep100it");
    CHECK(Step::parse("3ep").str() == "3ep");
    CHECK(Step::parse("7").str() == "7it");
  }

  TEST_CASE("Step::parse rejects anything else with a UsageError") {
    for (const char* bad : {"", "ep", "it", "-1it", "1.5ep", "3 ep", "100it2ep", "3epochs", "x"}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(lth::Step::parse(bad), lth::UsageError);
    }
  }
}
