// lth prune / transfer / mask on the fixture model: IMP's exact sparsities, nested masks, exact zeros
// in saved weights, rewinding to θ0, kill -9 and resume to byte-identical masks, mask tools.
// Expected counts are computed by hand: the 13 default prunable matrices hold
// 2 x (4 x 32x32 + 64x32 + 32x64) + 32x32 = 17408 weights; geometric 0.2 prunes 20%, 36%, 48.8%
// of them: 3481.6, 6266.88, 8495.104 -> 3482, 6267, 8495.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/file.h"
#include "io/safetensors.h"
#include "prune/mask.h"
#include "tests/cli/cli_testing.h"

namespace fs = std::filesystem;
namespace lt = lth::testing;
using lt::quote;
using Clock = std::chrono::steady_clock;
using Tensors = std::map<std::string, at::Tensor>;

namespace {

constexpr int64_t kTotal = 17408;
const int64_t kPruned[] = {0, 3482, 6267, 8495};

std::vector<std::string> prunable13() {
  std::vector<std::string> names = {"bert.pooler.dense.weight"};
  for (int layer = 0; layer < 2; ++layer) {
    const std::string p = "bert.encoder.layer." + std::to_string(layer) + ".";
    for (const char* s : {"attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
                          "attention.output.dense.weight", "intermediate.dense.weight", "output.dense.weight"})
      names.push_back(p + s);
  }
  return names;
}

std::string train_flags(const std::string& model = lt::fixture_model()) {
  // fp32: the runs below are compared bit for bit, which must not depend on the CPU's bf16 support.
  return "--model " + quote(model) + " --threads 1 --max-train-examples 64 --steps 4 --batch-size 16 " +
         "--max-length 32 --precision fp32";
}
std::string sst2() { return " --task glue/sst2 --data " + quote(lt::data_dir("glue/SST-2")); }

std::string imp_command(const std::string& out, const std::string& lr) {
  return "prune " + train_flags() + sst2() + " --levels 3 --rate 0.2 --lr " + lr + " --out " + quote(out);
}

std::string last_line(const std::string& text) {
  std::string last;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) last = line;
  return last;
}

Tensors load_all(const std::string& path) {
  lth::io::SafetensorsFile f(path);
  Tensors out;
  for (auto& [n, t] : f.load_all()) out[n] = t;
  return out;
}

// A mask file as bool tensors, checking the on-disk format: U8, values 0/1.
Tensors load_mask_file(const std::string& path) {
  lth::io::SafetensorsFile f(path);
  Tensors out;
  for (const auto& e : f.entries()) {
    CHECK(e.dtype == "U8");
    auto t = f.load(e.name);
    CHECK(t.le(1).all().item<bool>());
    out[e.name] = t.to(torch::kBool);
  }
  return out;
}

int64_t pruned_of(const Tensors& mask) {
  int64_t n = 0;
  for (const auto& [name, t] : mask) n += t.numel() - t.sum().item<int64_t>();
  return n;
}

// Nonzero weights where the mask is 0 (must be none).
int64_t nonzero_where_pruned(const Tensors& weights, const Tensors& mask) {
  int64_t n = 0;
  for (const auto& [name, m] : mask) n += weights.at(name).masked_select(m.logical_not()).ne(0).sum().item<int64_t>();
  return n;
}

struct ImpRun {
  std::unique_ptr<lt::TempDir> root;  // null for the shared main run
  std::string runs;                   // the --out given to lth prune
  lt::RunResult result;
  std::string run_dir;
};

ImpRun run_imp(const std::string& tag, const std::string& lr) {
  ImpRun r;
  r.root = std::make_unique<lt::TempDir>(tag);
  r.runs = r.root->file("runs");
  r.result = lt::run_lth(imp_command(r.runs, lr));
  r.run_dir = last_line(r.result.out);
  return r;
}

// The uninterrupted 3-level run most tests below compare with. ctest runs each case in its own
// process, so the run is made once per lth binary into imp-main-<binary size>-<binary mtime> in the
// working directory (under a lock) and reused by the later cases; older binaries' runs are removed.
const ImpRun& main_run() {
  static ImpRun r = [] {
    const std::string bin = lt::lth_binary();
    const std::string key = std::to_string(fs::file_size(bin)) + "-" +
                            std::to_string(fs::last_write_time(bin).time_since_epoch().count());
    const fs::path dir = fs::current_path() / ("imp-main-" + key);
    const int lock = ::open((fs::current_path() / "imp-main.lock").c_str(), O_RDWR | O_CREAT, 0644);
    REQUIRE(lock >= 0);
    REQUIRE(::flock(lock, LOCK_EX) == 0);
    ImpRun run;
    run.runs = (dir / "runs").string();
    const std::string done = (dir / "stdout").string();
    if (!lth::path_exists(done)) {
      for (const auto& e : fs::directory_iterator(fs::current_path()))
        if (e.path().filename().string().rfind("imp-main-", 0) == 0) fs::remove_all(e.path());
      run.result = lt::run_lth(imp_command(run.runs, "1e-3"));
      if (run.result.exit_code == 0) lth::write_file_atomic(done, run.result.out);
    } else {
      run.result.exit_code = 0;
      run.result.out = lth::read_file(done);
    }
    ::flock(lock, LOCK_UN);
    ::close(lock);
    run.run_dir = last_line(run.result.out);
    return run;
  }();
  REQUIRE_MESSAGE(r.result.exit_code == 0, r.result.err);
  return r;
}

std::string level(const std::string& run_dir, int k) { return run_dir + "/level_" + std::to_string(k); }

pid_t spawn_lth(const std::string& args, const std::string& log_dir) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    const std::string cmd = "exec " + quote(lt::lth_binary()) + " " + args + " >" + quote(log_dir + "/stdout") + " 2>" +
                            quote(log_dir + "/stderr") + " </dev/null";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("lth prune: 3 levels prune exactly 20%, 36%, 48.8%; masks nested; exact zeros in the saved weights") {
    const auto& run = main_run();
    CHECK(run.run_dir.rfind(run.runs + "/glue-sst2-", 0) == 0);
    REQUIRE(fs::is_directory(run.run_dir));
    const auto theta0 = load_all(lt::fixture_model() + "/model.safetensors");
    auto names = prunable13();
    std::sort(names.begin(), names.end());
    Tensors previous;
    for (int k = 0; k <= 3; ++k) {
      CAPTURE(k);
      const auto mask = load_mask_file(level(run.run_dir, k) + "/mask.safetensors");
      std::vector<std::string> mask_names;
      for (const auto& [n, t] : mask) {
        mask_names.push_back(n);
        CHECK(t.sizes() == theta0.at(n).sizes());
      }
      CHECK(mask_names == names);
      CHECK(pruned_of(mask) == kPruned[k]);
      const auto weights = load_all(level(run.run_dir, k) + "/model/model.safetensors");
      CHECK(nonzero_where_pruned(weights, mask) == 0);
      // Training moved the kept weights (the run is not vacuous).
      int64_t moved = 0;
      for (const auto& [n, m] : mask) moved += weights.at(n).masked_select(m).ne(theta0.at(n).masked_select(m)).sum().item<int64_t>();
      CHECK(moved > kTotal / 2);
      if (k > 0) {
        int64_t grown = 0;
        for (const auto& [n, m] : mask) grown += m.logical_and(previous.at(n).logical_not()).sum().item<int64_t>();
        CHECK(grown == 0);
        // Ranked globally on the previous level's trained weights: every newly pruned |w| <= every kept |w|.
        const auto trained = load_all(level(run.run_dir, k - 1) + "/model/model.safetensors");
        double max_pruned = 0, min_kept = 1e30;
        for (const auto& [n, m] : mask) {
          const auto mag = trained.at(n).abs();
          const auto now = previous.at(n).logical_and(m.logical_not());
          if (now.any().item<bool>()) max_pruned = std::max(max_pruned, mag.masked_select(now).max().item<double>());
          min_kept = std::min(min_kept, mag.masked_select(m).min().item<double>());
        }
        CHECK(max_pruned <= min_kept);
      }
      previous = mask;
    }
    const auto summary = lth::read_json_file(run.run_dir + "/summary.json");
    REQUIRE(summary["levels"].size() == 4);
    CHECK(summary["levels"][3]["sparsity"].get<double>() == doctest::Approx(8495.0 / kTotal).epsilon(1e-4));
  }

  TEST_CASE("lth prune with --lr 0: every level's saved weights are θ0 ⊙ mask bit for bit") {
    const auto run = run_imp("imp-lr0", "0");
    REQUIRE_MESSAGE(run.result.exit_code == 0, run.result.err);
    const auto theta0 = load_all(lt::fixture_model() + "/model.safetensors");
    for (int k = 0; k <= 3; ++k) {
      CAPTURE(k);
      const auto mask = load_mask_file(level(run.run_dir, k) + "/mask.safetensors");
      CHECK(pruned_of(mask) == kPruned[k]);
      const auto weights = load_all(level(run.run_dir, k) + "/model/model.safetensors");
      for (const auto& [n, t] : theta0) {
        if (n.rfind("bert.", 0) != 0) continue;  // the head is re-drawn from the seed
        CAPTURE(n);
        REQUIRE(weights.count(n) == 1);
        const auto want = mask.count(n) ? t * mask.at(n) : t;
        CHECK(torch::equal(weights.at(n), want));
      }
      // With nothing trained, IMP is one-shot magnitude pruning of θ0: one global threshold.
      double max_pruned = 0, min_kept = 1e30;
      for (const auto& [n, m] : mask) {
        const auto mag = theta0.at(n).abs();
        if (m.logical_not().any().item<bool>()) max_pruned = std::max(max_pruned, mag.masked_select(m.logical_not()).max().item<double>());
        min_kept = std::min(min_kept, mag.masked_select(m).min().item<double>());
      }
      CHECK(max_pruned <= min_kept);
    }
  }

  TEST_CASE("rewinding: IMP level 2 trains exactly what lth transfer of its mask from θ0 trains (bit for bit)") {
    const auto& run = main_run();
    lt::TempDir tmp("imp-rewind");
    const std::string mask = level(run.run_dir, 2) + "/mask.safetensors";
    const auto r = lt::run_lth("transfer " + train_flags() + sst2() + " --lr 1e-3 --mask " + quote(mask) + " --out " +
                               quote(tmp.file("t")));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto imp = load_all(level(run.run_dir, 2) + "/model/model.safetensors");
    const auto transfer = load_all(tmp.file("t/model/model.safetensors"));
    REQUIRE(imp.size() == transfer.size());
    for (const auto& [n, t] : imp) {
      CAPTURE(n);
      CHECK(torch::equal(t, transfer.at(n)));
    }
  }

  TEST_CASE("lth prune: kill -9 mid-run, rerun the same command -> byte-identical masks") {
    const auto& whole = main_run();
    lt::TempDir tmp("imp-kill");
    const std::string runs = tmp.file("runs");
    const std::string run_dir = runs + "/" + fs::path(whole.run_dir).filename().string();
    const pid_t pid = spawn_lth(imp_command(runs, "1e-3"), tmp.path());
    bool killed = false;
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < deadline) {
      if (lth::path_exists(level(run_dir, 2))) {
        ::kill(pid, SIGKILL);
        killed = true;
        break;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (killed) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      CHECK(WIFSIGNALED(status));
    }
    REQUIRE_MESSAGE(killed, "the run ended before level_2 appeared: " << lth::read_file(tmp.file("stderr")));
    CHECK_FALSE(lth::path_exists(run_dir + "/summary.json"));
    const auto r = lt::run_lth(imp_command(runs, "1e-3"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(last_line(r.out) == run_dir);
    for (int k = 0; k <= 3; ++k) {
      CAPTURE(k);
      CHECK(lth::read_file(level(run_dir, k) + "/mask.safetensors") ==
            lth::read_file(level(whole.run_dir, k) + "/mask.safetensors"));
    }
    CHECK(lth::read_json_file(run_dir + "/summary.json")["levels"] ==
          lth::read_json_file(whole.run_dir + "/summary.json")["levels"]);
  }

  TEST_CASE("lth prune: killed after a level's result.json but before its trained weights -> same masks") {
    // The narrowest window of a kill: the trainer has written result.json, the driver has not yet
    // written trained_prunable.safetensors. Resuming must not take untrained weights for trained ones.
    const auto& whole = main_run();
    lt::TempDir tmp("imp-window");
    const std::string runs = tmp.file("runs");
    const std::string run_dir = runs + "/" + fs::path(whole.run_dir).filename().string();
    fs::create_directories(runs);
    fs::copy(whole.run_dir, run_dir, fs::copy_options::recursive);
    fs::remove(level(run_dir, 1) + "/trained_prunable.safetensors");
    fs::remove_all(level(run_dir, 2));
    fs::remove_all(level(run_dir, 3));
    fs::remove(run_dir + "/summary.json");
    fs::remove(run_dir + "/summary.md");
    const auto r = lt::run_lth(imp_command(runs, "1e-3"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    for (int k = 1; k <= 3; ++k) {
      CAPTURE(k);
      CHECK(lth::read_file(level(run_dir, k) + "/mask.safetensors") ==
            lth::read_file(level(whole.run_dir, k) + "/mask.safetensors"));
    }
  }

  TEST_CASE("lth prune: a finished command trains and writes nothing again and prints the same run directory") {
    const auto& whole = main_run();
    const std::string runs = whole.runs;
    const auto before = lth::read_file(level(whole.run_dir, 3) + "/mask.safetensors");
    // Nothing is trained or written again: the levels' results and models keep their times.
    std::vector<std::pair<std::string, fs::file_time_type>> stamps;
    for (int k = 0; k <= 3; ++k) {
      for (const char* f : {"/result.json", "/model/model.safetensors", "/trained_prunable.safetensors"}) {
        const std::string path = level(whole.run_dir, k) + f;
        stamps.emplace_back(path, fs::last_write_time(path));
      }
    }
    const auto r = lt::run_lth(imp_command(runs, "1e-3"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(last_line(r.out) == whole.run_dir);
    for (const auto& [path, time] : stamps) {
      CAPTURE(path);
      CHECK(fs::last_write_time(path) == time);
    }
    CHECK(r.err.find("training already done") == std::string::npos);  // not even asked to train
    CHECK(lth::read_file(level(whole.run_dir, 3) + "/mask.safetensors") == before);
    // --threads and --out are not part of the run's identity; --rate is.
    CHECK(r.out.find("| imp ") != std::string::npos);
  }

  TEST_CASE("lth transfer: a level-2 SST-2 mask on RTE keeps exact zeros in the saved model") {
    const auto& run = main_run();
    lt::TempDir tmp("transfer-rte");
    const std::string mask_path = level(run.run_dir, 2) + "/mask.safetensors";
    const auto r = lt::run_lth("transfer " + train_flags() + " --lr 1e-3 --task glue/rte --data " +
                               quote(lt::data_dir("glue/RTE")) + " --mask " + quote(mask_path) + " --out " +
                               quote(tmp.file("t")));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto out = nlohmann::json::parse(last_line(r.out));
    CHECK(out["sparsity"].get<double>() == doctest::Approx(6267.0 / kTotal).epsilon(1e-4));
    CHECK(out.contains("accuracy"));
    const auto mask = load_mask_file(mask_path);
    const auto weights = load_all(tmp.file("t/model/model.safetensors"));
    CHECK(nonzero_where_pruned(weights, mask) == 0);
    CHECK(weights.at("classifier.weight").size(0) == 2);  // a new 2-label head for RTE
  }

  TEST_CASE("lth transfer / mask apply refuse a mask that does not fit: exit 1 naming the file and the tensor") {
    const auto& run = main_run();
    lt::TempDir tmp("transfer-bad");
    auto mask = load_mask_file(level(run.run_dir, 1) + "/mask.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& [n, t] : mask) tensors.emplace_back(n, t.to(torch::kUInt8));
    std::vector<std::pair<std::string, at::Tensor>> wrong_shape = tensors, unknown = tensors;
    for (auto& [n, t] : wrong_shape)
      if (n == "bert.encoder.layer.1.intermediate.dense.weight") t = torch::ones({32, 64}, torch::kUInt8);
    unknown.emplace_back("bert.encoder.layer.7.attention.self.query.weight", torch::ones({32, 32}, torch::kUInt8));
    lth::io::save_safetensors(tmp.file("wrong_shape.safetensors"), wrong_shape);
    lth::io::save_safetensors(tmp.file("unknown.safetensors"), unknown);
    struct Case {
      std::string file, tensor;
    };
    for (const Case& c : {Case{tmp.file("wrong_shape.safetensors"), "bert.encoder.layer.1.intermediate.dense.weight"},
                          Case{tmp.file("unknown.safetensors"), "bert.encoder.layer.7.attention.self.query.weight"}}) {
      CAPTURE(c.file);
      const std::string out = tmp.file("out-" + fs::path(c.file).stem().string());
      auto r = lt::run_lth("transfer " + train_flags() + " --task glue/rte --data " + quote(lt::data_dir("glue/RTE")) +
                           " --mask " + quote(c.file) + " --out " + quote(out));
      INFO("stderr: " << r.err);
      CHECK(r.exit_code == 1);
      const std::string err = last_line(r.err);
      CHECK(err.rfind("lth: error: ", 0) == 0);
      CHECK(err.find(c.file) != std::string::npos);
      CHECK(err.find(c.tensor) != std::string::npos);
      CHECK_FALSE(lth::path_exists(out + "/model"));
      r = lt::run_lth("mask apply --mask " + quote(c.file) + " --model " + quote(lt::fixture_model()) + " --out " +
                      quote(out + "-applied"));
      INFO("stderr: " << r.err);
      CHECK(r.exit_code == 1);
      CHECK(last_line(r.err).find(c.file) != std::string::npos);
      CHECK(last_line(r.err).find(c.tensor) != std::string::npos);
      CHECK_FALSE(lth::path_exists(out + "-applied"));
    }
  }

  TEST_CASE("late rewinding (--rewind 2it): the rewind point lies between θ0 and level 0's end; level 1 is exact") {
    lt::TempDir tmp("imp-late");
    const auto r = lt::run_lth("prune " + train_flags() + sst2() + " --levels 1 --rate 0.2 --lr 1e-3 --rewind 2it --out " +
                               quote(tmp.file("runs")));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string run_dir = last_line(r.out);
    const std::string rewind_path = run_dir + "/rewind.safetensors";
    REQUIRE(lth::path_exists(rewind_path));
    {
      lth::io::SafetensorsFile f(rewind_path);
      CHECK(f.metadata().at("rewind_step") == "2");
    }
    CHECK(lth::read_json_file(run_dir + "/summary.json")["rewind"] == "2it");
    const auto theta0 = load_all(lt::fixture_model() + "/model.safetensors");
    const auto rewind = load_all(rewind_path);
    const auto level0 = load_all(level(run_dir, 0) + "/model/model.safetensors");
    // The rewind point lies strictly between θ0 and the end of level 0's 4 steps.
    int64_t from_theta0 = 0, from_end = 0;
    for (const auto& n : prunable13()) {
      CAPTURE(n);
      REQUIRE(rewind.count(n) == 1);
      from_theta0 += rewind.at(n).ne(theta0.at(n)).sum().item<int64_t>();
      from_end += rewind.at(n).ne(level0.at(n)).sum().item<int64_t>();
    }
    CHECK(from_theta0 > kTotal / 2);
    CHECK(from_end > kTotal / 2);
    const auto mask = load_mask_file(level(run_dir, 1) + "/mask.safetensors");
    CHECK(pruned_of(mask) == kPruned[1]);
    const auto imp = load_all(level(run_dir, 1) + "/model/model.safetensors");
    CHECK(nonzero_where_pruned(imp, mask) == 0);
  }

  TEST_CASE("the reinit baseline: the trunk's masks on freshly drawn weights (std = initializer_range)") {
    lt::TempDir tmp("imp-reinit");
    // --lr 0: the saved weights are the initialisation itself, masked.
    const auto r = lt::run_lth("prune " + train_flags() + sst2() + " --levels 2 --rate 0.2 --lr 0 --baselines reinit --out " +
                               quote(tmp.file("runs")));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string run_dir = last_line(r.out);
    const double range = lth::read_json_file(lt::fixture_model() + "/config.json")["initializer_range"].get<double>();
    const auto theta0 = load_all(lt::fixture_model() + "/model.safetensors");
    auto summary = lth::read_json_file(run_dir + "/summary.json");
    REQUIRE(summary["baselines"]["reinit"].size() == 2);
    for (int k = 1; k <= 2; ++k) {
      CAPTURE(k);
      const std::string dir = run_dir + "/baselines/reinit/level_" + std::to_string(k);
      // The same mask as the trunk's level k, weight for weight.
      const auto mask = load_mask_file(dir + "/mask.safetensors");
      const auto trunk = load_mask_file(level(run_dir, k) + "/mask.safetensors");
      REQUIRE(mask.size() == trunk.size());
      for (const auto& [n, m] : mask) CHECK(torch::equal(m, trunk.at(n)));
      CHECK(pruned_of(mask) == kPruned[k]);
      const auto weights = load_all(dir + "/model/model.safetensors");
      CHECK(nonzero_where_pruned(weights, mask) == 0);
      // The kept weights are new draws from N(0, initializer_range), not θ0's.
      int64_t same = 0, kept = 0;
      double sum = 0, sum_sq = 0;
      for (const auto& [n, m] : mask) {
        const auto w = weights.at(n).masked_select(m).to(torch::kDouble);
        same += w.eq(theta0.at(n).masked_select(m).to(torch::kDouble)).sum().item<int64_t>();
        kept += w.numel();
        sum += w.sum().item<double>();
        sum_sq += w.pow(2).sum().item<double>();
      }
      CHECK(kept == kTotal - kPruned[k]);
      CHECK(same == 0);
      const double mean = sum / static_cast<double>(kept);
      const double std = std::sqrt(sum_sq / static_cast<double>(kept) - mean * mean);
      // ~1e4 draws: the sample std is within 3% of the true one far beyond 5 sigma (~0.7% each).
      CHECK(std::abs(mean) < 0.05 * range);
      CHECK(std == doctest::Approx(range).epsilon(0.03));
      CHECK(summary["baselines"]["reinit"][k - 1]["level"] == k);
      CHECK(summary["baselines"]["reinit"][k - 1]["sparsity"].get<double>() ==
            doctest::Approx(static_cast<double>(kPruned[k]) / kTotal).epsilon(1e-12));
    }
  }

  TEST_CASE("lth report on a real lth prune run: every number equals the level files") {
    const auto& run = main_run();
    const auto r = lt::run_lth("report --format json " + quote(run.runs));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto j = nlohmann::json::parse(r.out);  // non-const: a missing key reads as null, not UB
    CHECK(j["warnings"].empty());
    REQUIRE(j["runs"].size() == 1);
    CHECK(j["runs"][0]["path"] == run.run_dir);
    CHECK(j["runs"][0]["task"] == "glue/sst2");
    CHECK(j["runs"][0]["metric"] == "accuracy");
    CHECK(j["runs"][0]["config_hash"] == lth::read_json_file(run.run_dir + "/config.json")["hash"]);
    REQUIRE(j["groups"].size() == 1);
    auto& g = j["groups"][0];
    // Truth: each level's result.json (final dev accuracy), sparsity.json and mask file.
    std::vector<double> metric(4);
    for (int k = 0; k <= 3; ++k) metric[k] = lth::read_json_file(level(run.run_dir, k) + "/result.json")["final"]["accuracy"];
    CHECK(g["dense"]["n"] == 1);
    CHECK(g["dense"]["mean"].get<double>() == metric[0]);
    CHECK(g["dense"]["std"].is_null());  // one seed
    REQUIRE(g["levels"].size() == 4);
    for (int k = 0; k <= 3; ++k) {
      CAPTURE(k);
      auto& row = g["levels"][k];
      auto sp = lth::read_json_file(level(run.run_dir, k) + "/sparsity.json");
      CHECK(row["level"] == k);
      CHECK(sp["pruned"] == kPruned[k]);
      CHECK(sp["total"] == kTotal);
      CHECK(row["sparsity"].get<double>() == doctest::Approx(static_cast<double>(kPruned[k]) / kTotal).epsilon(1e-12));
      CHECK(row["sparsity"].get<double>() == sp["sparsity"].get<double>());
      CHECK(row["metric"]["mean"].get<double>() == metric[k]);
      CHECK(row["metric"]["values"] == nlohmann::json::array({metric[k]}));
      CHECK(row["delta"].get<double>() == doctest::Approx(metric[k] - metric[0]).epsilon(1e-12));
      CHECK(row["matching"].is_null());  // one seed: no standard deviation to decide with
      // Per matrix: layer l, matrix Q/K/V/AO/I/O, and the pooler, from sparsity.json's per_tensor.
      auto& m = g["matrices"][k];
      CHECK(m["level"] == k);
      CHECK(m["runs"] == 1);
      REQUIRE(m["layers"].size() == 2);
      const std::vector<std::pair<const char*, const char*>> names = {
          {"Q", "attention.self.query.weight"}, {"K", "attention.self.key.weight"},
          {"V", "attention.self.value.weight"}, {"AO", "attention.output.dense.weight"},
          {"I", "intermediate.dense.weight"},   {"O", "output.dense.weight"}};
      double pruned_sum = 0;
      for (int l = 0; l < 2; ++l) {
        auto& layer = m["layers"][l];
        CHECK(layer["layer"] == l);
        double total = 0, pruned = 0;
        for (const auto& [short_name, suffix] : names) {
          CAPTURE(short_name);
          auto& want = sp["per_tensor"]["bert.encoder.layer." + std::to_string(l) + "." + suffix];
          auto& got = layer["matrices"][short_name];
          CHECK(got["total"].get<double>() == want["total"].get<double>());
          CHECK(got["pruned"].get<double>() == want["pruned"].get<double>());
          total += want["total"].get<double>();
          pruned += want["pruned"].get<double>();
        }
        CHECK(layer["total"].get<double>() == total);
        CHECK(layer["remaining"].get<double>() == total - pruned);
        pruned_sum += pruned;
      }
      auto& pooler = sp["per_tensor"]["bert.pooler.dense.weight"];
      CHECK(m["pooler"]["total"].get<double>() == pooler["total"].get<double>());
      CHECK(m["pooler"]["pruned"].get<double>() == pooler["pruned"].get<double>());
      CHECK(m["other"].empty());
      CHECK(pruned_sum + pooler["pruned"].get<double>() == static_cast<double>(kPruned[k]));
    }
    // Overlap of consecutive levels: IoU of the kept weights, from the mask files by hand.
    REQUIRE(g["overlap"].size() == 3);
    for (int k = 1; k <= 3; ++k) {
      CAPTURE(k);
      const auto a = load_mask_file(level(run.run_dir, k - 1) + "/mask.safetensors");
      const auto b = load_mask_file(level(run.run_dir, k) + "/mask.safetensors");
      int64_t both = 0, either = 0;
      for (const auto& [n, t] : a) {
        both += t.logical_and(b.at(n)).sum().item<int64_t>();
        either += t.logical_or(b.at(n)).sum().item<int64_t>();
      }
      auto& o = g["overlap"][k - 1];
      CHECK(o["from_level"] == k - 1);
      CHECK(o["to_level"] == k);
      CHECK(o["iou"]["mean"].get<double>() == doctest::Approx(static_cast<double>(both) / static_cast<double>(either)).epsilon(1e-12));
      // Nested masks: the IoU is kept(k) / kept(k-1).
      CHECK(both == kTotal - kPruned[k]);
      CHECK(either == kTotal - kPruned[k - 1]);
    }
  }

  TEST_CASE("lth mask info: totals and per-tensor sums match the file") {
    const auto& run = main_run();
    const std::string path = level(run.run_dir, 1) + "/mask.safetensors";
    auto r = lt::run_lth("mask info --json " + quote(path));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["total"] == kTotal);
    CHECK(j["pruned"] == kPruned[1]);
    CHECK(j["per_tensor"].size() == 13);
    int64_t total = 0, pruned = 0;
    const auto mask = load_mask_file(path);
    for (auto it = j["per_tensor"].begin(); it != j["per_tensor"].end(); ++it) {
      total += it.value()["total"].get<int64_t>();
      pruned += it.value()["pruned"].get<int64_t>();
      const auto& m = mask.at(it.key());
      CHECK(it.value()["pruned"] == m.numel() - m.sum().item<int64_t>());
    }
    CHECK(total == kTotal);
    CHECK(pruned == kPruned[1]);
    CHECK(j["metadata"]["level"] == "1");
    CHECK(j["metadata"]["task"] == "glue/sst2");
    r = lt::run_lth("mask info " + quote(path));
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find(std::to_string(kTotal)) != std::string::npos);
    CHECK(r.out.find("20.00%") != std::string::npos);
  }

  TEST_CASE("lth mask overlap: A vs A is IoU 1, Hamming 0; nested levels by hand") {
    const auto& run = main_run();
    const std::string a = level(run.run_dir, 1) + "/mask.safetensors";
    const std::string b = level(run.run_dir, 2) + "/mask.safetensors";
    auto r = lt::run_lth("mask overlap --json " + quote(a) + " " + quote(a));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto j = nlohmann::json::parse(r.out)["pairs"][0];
    CHECK(j["iou"].get<double>() == 1.0);
    CHECK(j["hamming"] == 0);
    r = lt::run_lth("mask overlap --json " + quote(a) + " " + quote(b));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    j = nlohmann::json::parse(r.out)["pairs"][0];
    // b ⊆ a: intersection = kept(b), union = kept(a), they differ in the weights level 2 pruned.
    const double kept_a = static_cast<double>(kTotal - kPruned[1]), kept_b = static_cast<double>(kTotal - kPruned[2]);
    CHECK(j["iou"].get<double>() == doctest::Approx(kept_b / kept_a));
    CHECK(j["hamming"] == kPruned[2] - kPruned[1]);
    r = lt::run_lth("mask overlap " + quote(a) + " " + quote(a));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("IoU 1.0000  Hamming 0") != std::string::npos);
  }

  TEST_CASE("lth mask apply: a checkpoint with masked weights exactly 0, the rest untouched, that lth forward runs") {
    const auto& run = main_run();
    lt::TempDir tmp("mask-apply");
    const std::string mask_path = level(run.run_dir, 2) + "/mask.safetensors";
    const std::string out = tmp.file("pruned");
    auto r = lt::run_lth("mask apply --mask " + quote(mask_path) + " --model " + quote(lt::fixture_model()) + " --out " +
                         quote(out));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto mask = load_mask_file(mask_path);
    const auto theta0 = load_all(lt::fixture_model() + "/model.safetensors");
    const auto weights = load_all(out + "/model.safetensors");
    CHECK(weights.size() == theta0.size());
    for (const auto& [n, t] : theta0) {
      CAPTURE(n);
      REQUIRE(weights.count(n) == 1);
      CHECK(torch::equal(weights.at(n), mask.count(n) ? t * mask.at(n) : t));
    }
    std::ofstream(tmp.file("in.json")) << R"({"input_ids": [[2, 15, 27, 3]]})";
    r = lt::run_lth("forward --model " + quote(out) + " --inputs " + quote(tmp.file("in.json")) + " --out " +
                    quote(tmp.file("out.safetensors")) + " --threads 1");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    lth::io::SafetensorsFile f(tmp.file("out.safetensors"));
    CHECK(f.entry("logits").shape == std::vector<int64_t>{1, 3});
  }

  // The embedded model (data/bert-tiny: 2 layers, hidden 128, intermediate 512) has no pooler: its
  // pooler is drawn at load, so it is not pretrained. By default it is left out of the prunable set;
  // with --prune-new-params it is ranked with the rest. Counts by hand: each layer holds
  // 4 x 128x128 + 128x512 + 512x128 = 196608 prunable weights, 393216 for both; the pooler 128x128 =
  // 16384 more (409600). --schedule linear --rate 0.1 prunes 10% and 20% of the ORIGINAL count:
  // 39321.6 -> 39322 and 78643.2 -> 78643 (default); 40960 and 81920 (with the pooler).
  TEST_CASE("lth prune: a pooler the checkpoint lacks is not pruned by default, is with --prune-new-params (linear 0.1)") {
    const std::string model = lth::testing::source_dir() + "/data/bert-tiny";
    REQUIRE(fs::exists(model + "/model.safetensors"));
    lt::TempDir tmp("imp-new-params");
    const std::string base = "prune --model " + quote(model) + " --threads 1 --max-train-examples 32 --steps 2 " +
                             "--batch-size 16 --max-length 32 --lr 1e-3 --levels 2 --schedule linear --rate 0.1 " +
                             "--no-save-models --precision fp32" + sst2() + " --out " + quote(tmp.file("runs"));
    const std::string pooler = "bert.pooler.dense.weight";
    struct Case {
      std::string flag;
      int64_t total;
      int64_t pruned[3];
      size_t tensors;
    };
    std::vector<std::string> dirs;
    for (const Case& c : {Case{"", 393216, {0, 39322, 78643}, 12}, Case{" --prune-new-params", 409600, {0, 40960, 81920}, 13}}) {
      CAPTURE(c.flag);
      const auto r = lt::run_lth(base + c.flag);
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      const std::string dir = last_line(r.out);
      dirs.push_back(dir);
      int64_t pooler_pruned_2 = -1;
      for (int k = 0; k <= 2; ++k) {
        CAPTURE(k);
        const auto mask = load_mask_file(level(dir, k) + "/mask.safetensors");
        CHECK(mask.size() == c.tensors);
        int64_t total = 0;
        for (const auto& [n, t] : mask) total += t.numel();
        CHECK(total == c.total);
        CHECK(pruned_of(mask) == c.pruned[k]);
        if (mask.count(pooler)) pooler_pruned_2 = mask.at(pooler).numel() - mask.at(pooler).sum().item<int64_t>();
      }
      const auto summary = lth::read_json_file(dir + "/summary.json");
      CHECK(summary["new_parameters"] == nlohmann::json::array({pooler}));
      const auto mask_meta = lth::prune::load_mask(level(dir, 1) + "/mask.safetensors").metadata;
      if (c.flag.empty()) {
        CHECK(pooler_pruned_2 == -1);
        CHECK(summary["prune_new_params"] == false);
        CHECK(mask_meta.at("unpruned_new_parameters") == pooler);
        CHECK(r.err.find("not pruning " + pooler) != std::string::npos);
        CHECK(r.out.find("Not pruned (not in θ0") != std::string::npos);
      } else {
        // Random weights ranked against pretrained ones: far more than the 20% average goes.
        CHECK(pooler_pruned_2 > 16384 / 2);
        CHECK(summary["prune_new_params"] == true);
        CHECK(mask_meta.at("pruned_new_parameters") == pooler);
      }
    }
    CHECK(dirs[0] != dirs[1]);  // a different result, a different run
    // The report names what was left out, and why.
    const auto r = lt::run_lth("report " + quote(dirs[0]) + " --format md");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("Not pruned: " + pooler + " (not in θ0") != std::string::npos);
  }

  TEST_CASE("lth prune: where θ0 holds every prunable matrix, --prune-new-params changes neither the result nor the run") {
    lt::TempDir tmp("imp-new-params-fixture");
    const std::string cmd = "prune " + train_flags() + sst2() + " --levels 1 --rate 0.2 --lr 1e-3 --no-save-models --out " +
                            quote(tmp.file("runs"));
    const auto a = lt::run_lth(cmd);
    REQUIRE_MESSAGE(a.exit_code == 0, a.err);
    const auto b = lt::run_lth(cmd + " --prune-new-params");
    REQUIRE_MESSAGE(b.exit_code == 0, b.err);
    CHECK(last_line(a.out) == last_line(b.out));
    CHECK(lth::read_json_file(last_line(a.out) + "/summary.json")["new_parameters"].empty());
  }
}
