// Strategies and schedules: exact pruned counts, magnitude order (every kept |w| >= every pruned |w|),
// ties, nesting across levels, seeded random masks.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.h"
#include "prune/strategy.h"
#include "tests/prune/prune_testing.h"

namespace lt = lth::testing;
using lth::prune::Schedule;
using lth::prune::Strategy;

TEST_SUITE("prune") {
  TEST_CASE("pruned_at_level: geometric 0.2 -> 20%, 36%, 48.8%; linear 0.1 -> 10%, 20%, 30%") {
    CHECK(lth::prune::pruned_at_level(1000, 0, 0.2, Schedule::kGeometric) == 0);
    CHECK(lth::prune::pruned_at_level(1000, 1, 0.2, Schedule::kGeometric) == 200);
    CHECK(lth::prune::pruned_at_level(1000, 2, 0.2, Schedule::kGeometric) == 360);
    CHECK(lth::prune::pruned_at_level(1000, 3, 0.2, Schedule::kGeometric) == 488);
    CHECK(lth::prune::pruned_at_level(1000, 1, 0.1, Schedule::kLinear) == 100);
    CHECK(lth::prune::pruned_at_level(1000, 2, 0.1, Schedule::kLinear) == 200);
    CHECK(lth::prune::pruned_at_level(1000, 3, 0.1, Schedule::kLinear) == 300);
    // The fixture's 13 prunable matrices hold 17408 weights: 3481.6, 6266.88, 8495.104 rounded.
    CHECK(lth::prune::pruned_at_level(17408, 1, 0.2, Schedule::kGeometric) == 3482);
    CHECK(lth::prune::pruned_at_level(17408, 2, 0.2, Schedule::kGeometric) == 6267);
    CHECK(lth::prune::pruned_at_level(17408, 3, 0.2, Schedule::kGeometric) == 8495);
    CHECK(lth::prune::pruned_at_level(17408, 1, 0.1, Schedule::kLinear) == 1741);
    CHECK(lth::prune::pruned_at_level(17408, 3, 0.1, Schedule::kLinear) == 5222);
    // Linear caps at everything.
    CHECK(lth::prune::pruned_at_level(1000, 10, 0.1, Schedule::kLinear) == 1000);
    CHECK(lth::prune::pruned_at_level(1000, 12, 0.1, Schedule::kLinear) == 1000);
    CHECK(lth::prune::sparsity_at_level(3, 0.2, Schedule::kGeometric) == doctest::Approx(0.488));
    CHECK(lth::prune::sparsity_at_level(0, 0.2, Schedule::kLinear) == 0.0);
    for (double bad : {0.0, 1.0, -0.1, 1.5}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(lth::prune::pruned_at_level(1000, 1, bad, Schedule::kGeometric), lth::UsageError);
    }
  }

  TEST_CASE("strategy and schedule names round trip; unknown names are usage errors") {
    for (auto s : {Strategy::kGlobal, Strategy::kLayerwise, Strategy::kRandom, Strategy::kRandomLayerwise})
      CHECK(lth::prune::parse_strategy(lth::prune::strategy_name(s)) == s);
    for (auto s : {Schedule::kGeometric, Schedule::kLinear})
      CHECK(lth::prune::parse_schedule(lth::prune::schedule_name(s)) == s);
    CHECK_THROWS_AS(lth::prune::parse_strategy("magnitude"), lth::UsageError);
    CHECK_THROWS_AS(lth::prune::parse_schedule("cubic"), lth::UsageError);
  }

  TEST_CASE("global magnitude: hand-computed small case, by |w| not w") {
    lth::prune::NamedTensors w;
    w["m"] = torch::tensor({-3.0f, 0.1f, -0.2f, 2.0f, -0.05f, 1.0f}).view({1, 6});
    auto full = lth::prune::full_mask(w, {"m"});
    auto m = lth::prune::prune_to(full, w, 3, Strategy::kGlobal);
    const auto keep = m.tensors.at("m").flatten();
    CHECK(keep.dtype() == torch::kBool);
    CHECK(keep.sizes() == torch::IntArrayRef{6});
    const std::vector<bool> want = {true, false, false, true, false, true};
    for (int64_t i = 0; i < 6; ++i) CHECK(keep[i].item<bool>() == want[static_cast<size_t>(i)]);
    CHECK(m.tensors.at("m").sizes() == w.at("m").sizes());
  }

  TEST_CASE("global magnitude: exact count and kept >= pruned across all matrices, nested over levels") {
    auto w = lt::random_weights(1);
    const auto names = lt::names_of(w);
    auto full = lth::prune::full_mask(w, names);
    const int64_t total = full.total();
    REQUIRE(total == 1024 + 2048 + 2048 + 21);
    lth::prune::Mask previous = full;
    for (int level = 1; level <= 5; ++level) {
      CAPTURE(level);
      const int64_t target = lth::prune::pruned_at_level(total, level, 0.2, Schedule::kGeometric);
      auto m = lth::prune::prune_to(previous, w, target, Strategy::kGlobal);
      CHECK(m.pruned() == target);
      CHECK(lt::kept_outside(m, previous) == 0);
      auto split = lt::magnitude_split(previous, m, w);
      CHECK(split.max_pruned <= split.min_kept);
      // From the full mask too: one global threshold.
      auto from_full = lt::magnitude_split(full, m, w);
      CHECK(from_full.max_pruned <= from_full.min_kept);
      previous = m;
      // "Training" between levels: weights move, pruned ones are exactly 0.
      auto gen = at::make_generator<at::CPUGeneratorImpl>(100 + level);
      for (auto& [n, t] : w) t = (t + 0.3 * at::randn(t.sizes(), gen, torch::kFloat32)) * m.tensors.at(n);
    }
  }

  TEST_CASE("global magnitude: heavy ties still give the exact count") {
    lth::prune::NamedTensors w;
    w["x"] = torch::full({40, 25}, 0.5f);  // every weight equal
    auto full = lth::prune::full_mask(w, {"x"});
    for (int64_t target : {0, 1, 333, 999, 1000}) {
      CAPTURE(target);
      CHECK(lth::prune::prune_to(full, w, target, Strategy::kGlobal).pruned() == target);
    }
    // Few distinct magnitudes (and signs) over several matrices: the threshold falls inside a tie block.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    const auto levels = torch::tensor({-2.0f, -1.0f, 1.0f, 2.0f, 0.5f});
    lth::prune::NamedTensors tied;
    tied["p"] = levels.index({at::randint(0, 5, {30, 30}, gen, torch::kLong)});
    tied["q"] = levels.index({at::randint(0, 5, {17, 11}, gen, torch::kLong)});
    auto full2 = lth::prune::full_mask(tied, {"p", "q"});
    for (int64_t target : {1, 150, 400, 555, 777, 1000, 1086, 1087}) {
      CAPTURE(target);
      auto m = lth::prune::prune_to(full2, tied, target, Strategy::kGlobal);
      CHECK(m.pruned() == target);
      auto split = lt::magnitude_split(full2, m, tied);
      CHECK(split.max_pruned <= split.min_kept);
      // Nested: pruning a tied mask further keeps the count exact.
      auto more = lth::prune::prune_to(m, tied, std::min<int64_t>(1087, target + 100), Strategy::kGlobal);
      CHECK(more.pruned() == std::min<int64_t>(1087, target + 100));
      CHECK(lt::kept_outside(more, m) == 0);
    }
  }

  TEST_CASE("global vs layerwise: one threshold vs one per matrix") {
    auto w = lt::random_weights(2);
    w.at("a.query.weight") = w.at("a.query.weight") * 100.0;  // a's weights are all large
    const auto names = lt::names_of(w);
    auto full = lth::prune::full_mask(w, names);
    const int64_t target = full.total() / 4;
    auto g = lth::prune::prune_to(full, w, target, Strategy::kGlobal);
    // Global ranking prunes (almost) nothing from the large matrix.
    CHECK(lt::pruned_in(g, "a.query.weight") < 5);
    auto l = lth::prune::prune_to(full, w, target, Strategy::kLayerwise);
    const double fraction = static_cast<double>(target) / static_cast<double>(full.total());
    for (const auto& n : names) {
      CAPTURE(n);
      const double want = fraction * static_cast<double>(w.at(n).numel());
      CHECK(std::abs(static_cast<double>(lt::pruned_in(l, n)) - want) <= 0.5);
      auto split = lt::magnitude_split(full, l, w, {n});
      CHECK(split.max_pruned <= split.min_kept);
    }
  }

  TEST_CASE("layerwise: per-matrix counts exact over levels, nested, with ties") {
    auto w = lt::random_weights(3);
    w.at("b.intermediate.weight").slice(0, 0, 20).fill_(0.125f);  // 640 tied weights
    const auto names = lt::names_of(w);
    auto full = lth::prune::full_mask(w, names);
    lth::prune::Mask previous = full;
    for (int level = 1; level <= 4; ++level) {
      CAPTURE(level);
      const int64_t target = lth::prune::pruned_at_level(full.total(), level, 0.1, Schedule::kLinear);
      auto m = lth::prune::prune_to(previous, w, target, Strategy::kLayerwise);
      CHECK(lt::kept_outside(m, previous) == 0);
      const double fraction = static_cast<double>(target) / static_cast<double>(full.total());
      for (const auto& n : names) {
        CAPTURE(n);
        CHECK(std::abs(static_cast<double>(lt::pruned_in(m, n)) - fraction * static_cast<double>(w.at(n).numel())) <= 0.5);
        auto split = lt::magnitude_split(full, m, w, {n});
        CHECK(split.max_pruned <= split.min_kept);
      }
      previous = m;
    }
  }

  TEST_CASE("random: exact count, nested, deterministic in the seed, different across seeds") {
    auto w = lt::random_weights(4);
    const auto names = lt::names_of(w);
    auto full = lth::prune::full_mask(w, names);
    const int64_t total = full.total();
    auto a = lth::prune::prune_to(full, w, 1000, Strategy::kRandom, 11);
    auto b = lth::prune::prune_to(full, w, 1000, Strategy::kRandom, 11);
    auto c = lth::prune::prune_to(full, w, 1000, Strategy::kRandom, 12);
    CHECK(a.pruned() == 1000);
    CHECK(c.pruned() == 1000);
    int64_t differ_ab = 0, differ_ac = 0;
    for (const auto& n : names) {
      differ_ab += a.tensors.at(n).ne(b.tensors.at(n)).sum().item<int64_t>();
      differ_ac += a.tensors.at(n).ne(c.tensors.at(n)).sum().item<int64_t>();
    }
    CHECK(differ_ab == 0);
    CHECK(differ_ac > 100);
    // The weights do not matter to a random mask (empty weights are fine).
    auto d = lth::prune::prune_to(full, {}, 1000, Strategy::kRandom, 11);
    for (const auto& n : names) CHECK(d.tensors.at(n).equal(a.tensors.at(n)));
    // Not a magnitude mask: some pruned weight is larger than some kept one.
    auto split = lt::magnitude_split(full, a, w);
    CHECK(split.max_pruned > split.min_kept);
    // Nested.
    auto e = lth::prune::prune_to(a, w, 2500, Strategy::kRandom, 13);
    CHECK(e.pruned() == 2500);
    CHECK(lt::kept_outside(e, a) == 0);
    CHECK(lth::prune::prune_to(e, w, total, Strategy::kRandom, 14).kept() == 0);
  }

  TEST_CASE("random-layerwise: per-matrix counts, seeded") {
    auto w = lt::random_weights(5);
    const auto names = lt::names_of(w);
    auto full = lth::prune::full_mask(w, names);
    const int64_t target = lth::prune::pruned_at_level(full.total(), 2, 0.2, Schedule::kGeometric);
    auto a = lth::prune::prune_to(full, w, target, Strategy::kRandomLayerwise, 3);
    auto b = lth::prune::prune_to(full, w, target, Strategy::kRandomLayerwise, 3);
    const double fraction = static_cast<double>(target) / static_cast<double>(full.total());
    for (const auto& n : names) {
      CAPTURE(n);
      CHECK(std::abs(static_cast<double>(lt::pruned_in(a, n)) - fraction * static_cast<double>(w.at(n).numel())) <= 0.5);
      CHECK(a.tensors.at(n).equal(b.tensors.at(n)));
    }
  }

  TEST_CASE("prune_to refuses targets outside [0, total] and weights of the wrong shape") {
    auto w = lt::random_weights(6);
    auto full = lth::prune::full_mask(w, lt::names_of(w));
    CHECK_THROWS_AS(lth::prune::prune_to(full, w, full.total() + 1, Strategy::kGlobal), lth::Error);
    CHECK_THROWS_AS(lth::prune::prune_to(full, w, -1, Strategy::kGlobal), lth::Error);
    auto bad = w;
    bad.at("d.odd.weight") = torch::randn({7, 3});
    CHECK_THROWS_AS(lth::prune::prune_to(full, bad, 10, Strategy::kGlobal), lth::ShapeError);
    bad.erase("d.odd.weight");
    CHECK_THROWS_AS(lth::prune::prune_to(full, bad, 10, Strategy::kGlobal), lth::ShapeError);
  }
}
