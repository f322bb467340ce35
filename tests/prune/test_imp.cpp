// The IMP driver with a fake, deterministic "training" callback: what each level starts from, the
// masks it writes (exact counts, nested, magnitude order of the previous level's trained weights),
// resuming after a crash to byte-identical masks, early stop at a target sparsity, baselines.
#include <doctest/doctest.h>

#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "prune/imp.h"
#include "prune/run_layout.h"
#include "tests/prune/prune_testing.h"
#include "tests/testing.h"

namespace fs = std::filesystem;
namespace lt = lth::testing;
using lth::prune::LevelInit;
using lth::prune::LevelSpec;

namespace {

struct FakeTrainer {
  lth::prune::NamedTensors theta0;
  std::vector<LevelSpec> calls;
  std::vector<std::string> masks_seen;  // "dir: pruned"
  std::string fail_in;                  // throw when training this dir (a crash mid-run)
  bool save_models = false;             // write <dir>/model/model.safetensors, as the trainer does

  lth::prune::LevelOutcome operator()(const LevelSpec& spec) {
    if (!fail_in.empty() && spec.dir == fail_in) throw std::runtime_error("killed");
    calls.push_back(spec);
    REQUIRE(spec.mask != nullptr);
    // "Training": θ0 plus noise that depends on the directory's name, then the mask.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(std::hash<std::string>{}(fs::path(spec.dir).filename().string()));
    lth::prune::LevelOutcome out;
    for (const auto& [name, m] : spec.mask->tensors) {
      out.trained[name] = (theta0.at(name) + 0.5 * at::randn(m.sizes(), gen, torch::kFloat32)) * m;
    }
    out.metrics = {{"accuracy", 1.0 - spec.mask->sparsity()}};
    if (!spec.capture_rewind_to.empty()) lth::io::save_safetensors(spec.capture_rewind_to, {{"x", torch::ones({1})}});
    lth::write_file_atomic(spec.dir + "/result.json", nlohmann::json{{"final", out.metrics}}.dump());
    if (save_models) {
      lth::make_dirs(spec.dir + "/model");
      lth::io::save_safetensors(spec.dir + "/model/model.safetensors", {{"x", torch::ones({1})}});
    }
    return out;
  }
};

lth::prune::ImpConfig config_in(const std::string& dir, int levels) {
  lth::prune::ImpConfig c;
  c.levels = levels;
  c.rate = 0.2;
  c.run_dir = dir;
  c.task = "fake/task";
  c.metric = "accuracy";
  c.config_hash = "0123456789";
  c.fingerprint = "fp";
  return c;
}

nlohmann::json run(const lth::prune::ImpConfig& c, FakeTrainer& fake) {
  return lth::prune::run_imp(c, fake.theta0, lt::names_of(fake.theta0),
                             [&fake](const LevelSpec& s) { return fake(s); });
}

std::string level_mask(const std::string& run_dir, int level) { return lth::prune::RunLayout(run_dir).level(level).mask(); }

}  // namespace

TEST_SUITE("prune") {
  TEST_CASE("run_imp: rewind to θ0, exact nested masks ranked on the previous level's trained weights") {
    lt::TempDir tmp("imp-trunk");
    FakeTrainer fake;
    fake.theta0 = lt::random_weights(20);
    const auto c = config_in(tmp.file("run"), 3);
    const auto summary = run(c, fake);
    const int64_t total = 5141;
    REQUIRE(fake.calls.size() == 4);
    REQUIRE(summary["levels"].size() == 4);
    std::vector<lth::prune::Mask> masks;
    for (int level = 0; level <= 3; ++level) {
      CAPTURE(level);
      CHECK(fake.calls[static_cast<size_t>(level)].init == LevelInit::kTheta0);
      CHECK(fake.calls[static_cast<size_t>(level)].capture_rewind_to.empty());
      auto m = lth::prune::load_mask(level_mask(c.run_dir, level));
      CHECK(m.pruned() == lth::prune::pruned_at_level(total, level, 0.2, lth::prune::Schedule::kGeometric));
      CHECK(m.metadata.at("level") == std::to_string(level));
      CHECK(m.metadata.at("task") == "fake/task");
      CHECK(m.metadata.at("base_fingerprint") == "fp");
      CHECK(summary["levels"][level]["sparsity"].get<double>() == doctest::Approx(m.sparsity()));
      CHECK(summary["levels"][level]["level"] == level);
      const auto stats = lth::read_json_file(c.run_dir + "/level_" + std::to_string(level) + "/sparsity.json");
      CHECK(stats["pruned"] == m.pruned());
      if (level > 0) {
        CHECK(lt::kept_outside(m, masks.back()) == 0);
        // Ranked on what the previous level trained (saved by the driver), not on θ0.
        lth::io::SafetensorsFile trained_file(c.run_dir + "/level_" + std::to_string(level - 1) +
                                              "/trained_prunable.safetensors");
        lth::prune::NamedTensors trained;
        for (auto& [n, t] : trained_file.load_all()) trained[n] = t;
        auto split = lt::magnitude_split(masks.back(), m, trained);
        CHECK(split.max_pruned <= split.min_kept);
        auto on_theta0 = lt::magnitude_split(masks.back(), m, fake.theta0);
        CHECK(on_theta0.max_pruned > on_theta0.min_kept);
      }
      masks.push_back(m);
    }
    CHECK(summary["dense"].get<double>() == 1.0);
    CHECK(summary["schedule"] == "geometric");
    CHECK(lth::path_exists(c.run_dir + "/summary.json"));
    CHECK(lth::read_file(c.run_dir + "/summary.md").find("| imp ") != std::string::npos);
  }

  TEST_CASE("run_imp: a finished run repeats without training; a crashed run resumes to byte-identical masks") {
    lt::TempDir tmp("imp-resume");
    FakeTrainer whole;
    whole.theta0 = lt::random_weights(21);
    const auto a = config_in(tmp.file("a"), 3);
    const auto summary = run(a, whole);

    int trained_again = 0;
    const auto repeated = lth::prune::run_imp(a, whole.theta0, lt::names_of(whole.theta0),
                                              [&](const LevelSpec&) -> lth::prune::LevelOutcome {
                                                ++trained_again;
                                                throw std::runtime_error("a finished level trained again");
                                              });
    CHECK(trained_again == 0);
    CHECK(repeated == summary);

    FakeTrainer crashing;
    crashing.theta0 = whole.theta0;
    const auto b = config_in(tmp.file("b"), 3);
    crashing.fail_in = b.run_dir + "/level_2";
    CHECK_THROWS(run(b, crashing));
    CHECK(lth::path_exists(level_mask(b.run_dir, 2)));  // the mask is written before training
    CHECK_FALSE(lth::path_exists(level_mask(b.run_dir, 3)));
    crashing.fail_in.clear();
    crashing.calls.clear();
    const auto resumed = run(b, crashing);
    CHECK(crashing.calls.size() == 2);  // levels 2 and 3 only
    for (int level = 0; level <= 3; ++level) {
      CAPTURE(level);
      CHECK(lth::read_file(level_mask(a.run_dir, level)) == lth::read_file(level_mask(b.run_dir, level)));
    }
    CHECK(resumed["levels"] == summary["levels"]);
  }

  TEST_CASE("run_imp: late rewinding starts levels > 0 from the rewind point; level 0 captures it") {
    lt::TempDir tmp("imp-late");
    FakeTrainer fake;
    fake.theta0 = lt::random_weights(22);
    auto c = config_in(tmp.file("run"), 2);
    c.rewind = "2it";
    run(c, fake);
    REQUIRE(fake.calls.size() == 3);
    CHECK(fake.calls[0].init == LevelInit::kTheta0);
    CHECK(fake.calls[0].capture_rewind_to == c.run_dir + "/rewind.safetensors");
    CHECK(fake.calls[1].init == LevelInit::kRewind);
    CHECK(fake.calls[2].init == LevelInit::kRewind);
  }

  TEST_CASE("run_imp: --target-sparsity stops at the first level reaching it; linear schedule") {
    lt::TempDir tmp("imp-target");
    FakeTrainer fake;
    fake.theta0 = lt::random_weights(23);
    auto c = config_in(tmp.file("run"), 10);
    c.target_sparsity = 0.5;  // 20%, 36%, 48.8%, 59.04%: stop at level 4
    const auto s = run(c, fake);
    CHECK(s["levels"].size() == 5);
    CHECK_FALSE(lth::path_exists(c.run_dir + "/level_5"));

    FakeTrainer lin;
    lin.theta0 = fake.theta0;
    auto l = config_in(tmp.file("linear"), 3);
    l.schedule = lth::prune::Schedule::kLinear;
    l.rate = 0.1;
    run(l, lin);
    for (int level = 1; level <= 3; ++level) {
      CHECK(lth::prune::load_mask(level_mask(l.run_dir, level)).pruned() == std::llround(0.1 * level * 5141));
    }
  }

  TEST_CASE("run_imp: baselines at the trunk's sparsities (random, reinit, oneshot)") {
    lt::TempDir tmp("imp-baselines");
    FakeTrainer fake;
    fake.theta0 = lt::random_weights(24);
    auto c = config_in(tmp.file("run"), 2);
    c.baselines = {"random", "reinit", "oneshot"};
    const auto s = run(c, fake);
    CHECK(fake.calls.size() == 3 + 3 * 2);
    for (int level = 1; level <= 2; ++level) {
      CAPTURE(level);
      const auto trunk = lth::prune::load_mask(level_mask(c.run_dir, level));
      const std::string base = c.run_dir + "/baselines/";
      const auto random = lth::prune::load_mask(base + "random/level_" + std::to_string(level) + "/mask.safetensors");
      const auto reinit = lth::prune::load_mask(base + "reinit/level_" + std::to_string(level) + "/mask.safetensors");
      const auto oneshot = lth::prune::load_mask(base + "oneshot/level_" + std::to_string(level) + "/mask.safetensors");
      CHECK(random.pruned() == trunk.pruned());
      CHECK(oneshot.pruned() == trunk.pruned());
      CHECK(lt::kept_outside(reinit, trunk) == 0);
      CHECK(reinit.pruned() == trunk.pruned());
      // one-shot ranks θ0 itself; random ignores magnitudes.
      auto full = lth::prune::full_mask(fake.theta0, lt::names_of(fake.theta0));
      auto split = lt::magnitude_split(full, oneshot, fake.theta0);
      CHECK(split.max_pruned <= split.min_kept);
      CHECK(lt::kept_outside(random, trunk) > 0);
      CHECK(s["baselines"]["random"][level - 1]["level"] == level);
    }
    // What each baseline level starts from.
    int reinit_calls = 0;
    for (const auto& call : fake.calls) {
      if (call.dir.find("/baselines/reinit/") != std::string::npos) {
        CHECK(call.init == LevelInit::kRandom);
        ++reinit_calls;
      } else {
        CHECK(call.init == LevelInit::kTheta0);
      }
    }
    CHECK(reinit_calls == 2);
  }

  TEST_CASE("run_imp: the standard baseline prunes its own previous level's trained weights and continues from them") {
    lt::TempDir tmp("imp-standard");
    FakeTrainer fake;
    fake.theta0 = lt::random_weights(26);
    auto without_models = config_in(tmp.file("no-models"), 2);
    without_models.baselines = {"standard"};
    CHECK_THROWS_WITH_AS(run(without_models, fake),
                         doctest::Contains("the standard-pruning baseline continues from saved weights"), lth::IoError);
    auto c = config_in(tmp.file("run"), 2);
    c.baselines = {"standard"};
    fake.save_models = true;
    fake.calls.clear();
    const auto s = run(c, fake);
    REQUIRE(fake.calls.size() == 3 + 2);  // the trunk, then standard levels 1 and 2
    const lth::prune::RunLayout layout(c.run_dir);
    for (int level = 1; level <= 2; ++level) {
      CAPTURE(level);
      const LevelSpec& call = fake.calls[static_cast<size_t>(2 + level)];
      const auto previous = level == 1 ? layout.level(0) : layout.baseline("standard", level - 1);
      CHECK(call.dir == layout.baseline("standard", level).dir());
      CHECK(call.init == LevelInit::kContinue);
      CHECK(call.continue_dir == previous.model());
      const auto mask = lth::prune::load_mask(layout.baseline("standard", level).mask());
      const auto before = lth::prune::load_mask(previous.mask());
      CHECK(mask.pruned() == lth::prune::load_mask(layout.level(level).mask()).pruned());
      CHECK(lt::kept_outside(mask, before) == 0);
      lth::prune::NamedTensors trained = lth::prune::load_weights(previous.trained());
      auto split = lt::magnitude_split(before, mask, trained);
      CHECK(split.max_pruned <= split.min_kept);
      CHECK(s["baselines"]["standard"][level - 1]["level"] == level);
    }
  }

  TEST_CASE("run_imp: unknown baselines and a missing metric are refused") {
    lt::TempDir tmp("imp-bad");
    FakeTrainer fake;
    fake.theta0 = lt::random_weights(25);
    auto c = config_in(tmp.file("run"), 1);
    c.baselines = {"lottery"};
    CHECK_THROWS_AS(run(c, fake), lth::UsageError);
    auto d = config_in(tmp.file("run2"), 1);
    d.metric = "f1";
    CHECK_THROWS_AS(run(d, fake), lth::Error);
  }
}
