// The run layout (every path of an IMP run directory from one place) and the baseline table.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "prune/baselines.h"
#include "prune/run_layout.h"
#include "tests/testing.h"

namespace fs = std::filesystem;
namespace lt = lth::testing;
using lth::prune::RunLayout;

TEST_SUITE("prune") {
  TEST_CASE("RunLayout: the documented paths (docs/FORMATS.md, IMP run directory)") {
    const RunLayout run("runs/glue-sst2-0123456789");
    CHECK(run.config() == "runs/glue-sst2-0123456789/config.json");
    CHECK(run.summary() == "runs/glue-sst2-0123456789/summary.json");
    CHECK(run.summary_table() == "runs/glue-sst2-0123456789/summary.md");
    CHECK(run.rewind() == "runs/glue-sst2-0123456789/rewind.safetensors");
    CHECK(run.level(3).dir() == "runs/glue-sst2-0123456789/level_3");
    CHECK(run.level(3).mask() == "runs/glue-sst2-0123456789/level_3/mask.safetensors");
    CHECK(run.level(3).sparsity() == "runs/glue-sst2-0123456789/level_3/sparsity.json");
    CHECK(run.level(3).trained() == "runs/glue-sst2-0123456789/level_3/trained_prunable.safetensors");
    CHECK(run.level(3).result() == "runs/glue-sst2-0123456789/level_3/result.json");
    CHECK(run.level(0).model() == "runs/glue-sst2-0123456789/level_0/model");
    CHECK(run.baseline("random", 2).mask() == "runs/glue-sst2-0123456789/baselines/random/level_2/mask.safetensors");
    CHECK(run.branch("standard").dir() == "runs/glue-sst2-0123456789/baselines/standard");
    CHECK(RunLayout::task_slug("squad/v1.1") == "squad-v1-1");
    CHECK(RunLayout::run_name("glue/sst2", "0123456789") == "glue-sst2-0123456789");
    // lth plan's transfer jobs name a mask through a shell glob for the run directory.
    CHECK(RunLayout("out/imp/glue-sst2/seed1/*").level(4).mask() == "out/imp/glue-sst2/seed1/*/level_4/mask.safetensors");
  }

  TEST_CASE("RunLayout: levels and baselines found on disk; other names and files ignored") {
    lt::TempDir tmp("run-layout");
    const RunLayout run(tmp.file("run"));
    std::error_code ec;
    CHECK(run.trunk().levels_on_disk(ec).empty());
    CHECK(ec);  // the directory does not exist
    CHECK_FALSE(run.looks_like_run());
    for (const char* dir : {"level_0", "level_2", "level_10", "level_", "level_x", "levels_1", "level_99999999999", "baselines/random/level_1",
                            "baselines/reinit"}) {
      lth::make_dirs(run.dir() + "/" + dir);
    }
    lth::write_file_atomic(run.dir() + "/level_5", "a file, not a level");
    const auto levels = run.trunk().levels_on_disk(ec);
    CHECK_FALSE(ec);
    REQUIRE(levels.size() == 3);
    CHECK(levels.at(0).dir() == run.level(0).dir());
    CHECK(levels.at(10).mask() == run.level(10).mask());
    CHECK(levels.count(2) == 1);
    CHECK(run.looks_like_run());
    const auto baselines = run.baselines_on_disk();
    REQUIRE(baselines.size() == 2);
    for (const auto& [name, branch] : baselines) {
      CHECK(branch.dir() == run.branch(name).dir());
      CHECK(branch.levels_on_disk(ec).size() == (name == "random" ? 1u : 0u));
    }
  }

  TEST_CASE("baselines: one table read by help texts and validation") {
    CHECK(lth::prune::baseline_names(",") == "random,reinit,oneshot,standard");
    CHECK(lth::prune::baseline_names(", ") == "random, reinit, oneshot, standard");
    for (const auto& b : lth::prune::baselines()) {
      CAPTURE(b.name);
      CHECK(lth::prune::find_baseline(b.name) == &b);
      CHECK(std::string(b.description).size() > 10);
      CHECK(static_cast<bool>(b.mask));
    }
    CHECK(lth::prune::find_baseline("reinit")->init == lth::prune::LevelInit::kRandom);
    CHECK(lth::prune::find_baseline("standard")->init == lth::prune::LevelInit::kContinue);
    CHECK(lth::prune::find_baseline("lottery") == nullptr);
    CHECK_NOTHROW(lth::prune::check_baseline_names({"random", "standard"}));
    try {
      lth::prune::check_baseline_names({"random", "bogus"});
      FAIL("no error");
    } catch (const lth::UsageError& e) {
      CHECK(std::string(e.what()) == "--baselines: unknown baseline 'bogus' (random, reinit, oneshot, standard)");
    }
  }
}
