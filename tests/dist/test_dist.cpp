// Data-parallel training (lth launch, Gloo on 127.0.0.1) against single-process runs with the
// same global batch: weights after k steps, IMP masks, evaluation metrics, and a killed worker
// that fails the job cleanly and resumes.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <thread>

#include <torch/torch.h>

#include "core/file.h"
#include "io/safetensors.h"
#include "tests/testing.h"

namespace lt = lth::testing;
namespace fs = std::filesystem;

namespace {

std::string fixture() { return lt::shared_dir() + "/fixtures/hf-bert/model"; }

// The fixture model without dropout: the ranks' dropout draws differ from one process's, so
// exact comparisons need it off (with dropout, 2 workers train as well, not identically).
std::string no_dropout_model(const lt::TempDir& tmp) {
  const std::string dir = tmp.file("model-nodrop");
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(fixture())) fs::copy(e.path(), dir + "/" + e.path().filename().string());
  auto config = lth::read_json_file(dir + "/config.json");
  config["hidden_dropout_prob"] = 0.0;
  config["attention_probs_dropout_prob"] = 0.0;
  lth::write_file_atomic(dir + "/config.json", config.dump(2));
  return dir;
}

std::string args_line(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += lt::quote(a) + " ";
  return line;
}

// SST-2's first 48 dev examples (in the working directory): the runs below evaluate often.
std::string tiny_dev() {
  const std::string path = (fs::current_path() / "sst2-dev-48.tsv").string();
  std::istringstream in(lth::read_file(lt::shared_dir() + "/data/glue/SST-2/dev.tsv"));
  std::string text, line;
  for (int i = 0; i < 49 && std::getline(in, line); ++i) text += line + "\n";
  lth::write_file_atomic(path, text);
  return path;
}

std::vector<std::string> sst2(const std::string& model, int64_t batch, const std::string& steps, const std::string& out) {
  return {"--model", model, "--task", "glue/sst2", "--data", lt::shared_dir() + "/data/glue/SST-2", "--dev", tiny_dev(),
          "--max-length", "64",
          "--max-train-examples", "96", "--batch-size", std::to_string(batch), "--lr", "1e-3", "--weight-decay", "0.01",
          "--steps", steps, "--threads", "1", "--out", out,
          // fp32: the equivalence of 1 x 16 and 2 x 8 holds to float rounding; bf16 autocast (the
          // default on CPUs that have it) rounds each half-batch's activations differently.
          "--precision", "fp32"};
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> launch2(const std::vector<std::string>& command) {
  return cat({"launch", "--nproc", "2", "--", "lth"}, command);
}

// Max |a - b| over the tensors of two safetensors files (same names required), leaving out names
// containing `skip` when it is non-empty.
double max_abs_diff(const std::string& a_path, const std::string& b_path, const std::string& skip = "") {
  lth::io::SafetensorsFile a(a_path), b(b_path);
  const auto ta = a.load_all(), tb = b.load_all();
  REQUIRE(ta.size() == tb.size());
  REQUIRE(!ta.empty());
  double worst = 0.0;
  for (std::size_t i = 0; i < ta.size(); ++i) {
    REQUIRE(ta[i].first == tb[i].first);
    REQUIRE(ta[i].second.sizes() == tb[i].second.sizes());
    if (!skip.empty() && ta[i].first.find(skip) != std::string::npos) continue;
    const double d = (ta[i].second.to(torch::kFloat64) - tb[i].second.to(torch::kFloat64)).abs().max().item<double>();
    if (d > worst) MESSAGE(ta[i].first << ": max |diff| " << d);
    worst = std::max(worst, d);
  }
  return worst;
}

std::vector<nlohmann::json> dev_lines(const std::string& run) {
  std::vector<nlohmann::json> out;
  for (auto& j : lt::read_jsonl(run + "/metrics.jsonl")) {
    if (j.value("split", "") == "dev") out.push_back(std::move(j));
  }
  return out;
}

// The one run directory inside an IMP --out.
std::string only_run(const std::string& out) {
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(out))
    if (e.is_directory()) dirs.push_back(e.path().string());
  REQUIRE(dirs.size() == 1);
  return dirs[0];
}

pid_t spawn_lth(const std::vector<std::string>& args, const std::string& err_path) {
  const std::string bin = lt::lth_binary();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int o = ::open("/dev/null", O_WRONLY);
    if (e < 0 || o < 0) ::_exit(126);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> argv{const_cast<char*>(bin.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

TEST_SUITE("dist") {
  TEST_CASE("lth launch hands the words after -- to the workers exactly as given") {
    // CLI11 would read "[a,b]" as a list of two and drop the brackets of "[unused{}]".
    const std::vector<std::string> words = {"[unused_extra{}]", "[a,b]", "a,b", "--nproc", "x y"};
    auto r = lt::run_lth(args_line(cat({"launch", "--nproc", "1", "--", "printf", "<%s>"}, words)));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out == "<[unused_extra{}]><[a,b]><a,b><--nproc><x y>");
    auto none = lt::run_lth("launch --nproc 1 --");
    CHECK(none.exit_code == 2);
    CHECK(none.err.find("after --") != std::string::npos);
  }

  TEST_CASE("2 workers x batch 8 train the weights of 1 process x batch 16; evaluation equals one process's") {
    lt::TempDir tmp("dist-equal");
    const std::string model = no_dropout_model(tmp);
    const std::string one = tmp.file("one"), two = tmp.file("two");
    auto r1 = lt::run_lth(args_line(cat({"finetune"}, cat(sst2(model, 16, "6", one), {"--eval-every", "3it"}))));
    REQUIRE_MESSAGE(r1.exit_code == 0, r1.err);
    auto r2 = lt::run_lth(args_line(launch2(cat({"finetune"}, cat(sst2(model, 8, "6", two), {"--eval-every", "3it"})))));
    REQUIRE_MESSAGE(r2.exit_code == 0, r2.err);
    CHECK(std::count(r2.out.begin(), r2.out.end(), '\n') == 1);  // one copy of the output (rank 0's)
    // Attention key biases have a gradient of exactly zero in exact arithmetic (softmax ignores a
    // constant per query), so theirs is rounding noise that Adam scales up to steps of ~lr: they
    // are compared only against that bound.
    const std::string w1 = one + "/model/model.safetensors", w2 = two + "/model/model.safetensors";
    const double diff = max_abs_diff(w1, w2, "attention.self.key.bias");
    MESSAGE("max |w1 - w2| after 6 AdamW steps (all but key biases): " << diff);
    CHECK(diff < 1e-5);
    CHECK(max_abs_diff(w1, w2) < 6 * 1e-3);
    // Only rank 0 wrote: one metrics line per evaluation.
    CHECK(dev_lines(two).size() == dev_lines(one).size());

    // Evaluation: the same weights give exactly the same metrics (lr 0: the weights stay θ0).
    const std::string e1 = tmp.file("eval-one"), e2 = tmp.file("eval-two");
    const auto base1 = sst2(fixture(), 16, "2", e1), base2 = sst2(fixture(), 8, "2", e2);
    auto set_lr0 = [](std::vector<std::string> a) {
      for (std::size_t i = 0; i + 1 < a.size(); ++i)
        if (a[i] == "--lr") a[i + 1] = "0";
      return cat(a, {"--eval-every", "1it", "--no-save-models"});
    };
    r1 = lt::run_lth(args_line(cat({"finetune"}, set_lr0(base1))));
    REQUIRE_MESSAGE(r1.exit_code == 0, r1.err);
    r2 = lt::run_lth(args_line(launch2(cat({"finetune"}, set_lr0(base2)))));
    REQUIRE_MESSAGE(r2.exit_code == 0, r2.err);
    const auto m1 = dev_lines(e1), m2 = dev_lines(e2);
    REQUIRE(m1.size() == 2);
    REQUIRE(m2.size() == 2);
    for (std::size_t i = 0; i < m1.size(); ++i) CHECK(m1[i].dump() == m2[i].dump());
  }

  TEST_CASE("IMP with 2 workers: masks agree with one process's on >= 99.99% of weights") {
    lt::TempDir tmp("dist-imp");
    const std::string model = no_dropout_model(tmp);
    const std::string one = tmp.file("one"), two = tmp.file("two");
    const std::vector<std::string> imp{"--levels", "2", "--rate", "0.5", "--no-save-models"};
    auto r1 = lt::run_lth(args_line(cat(cat({"prune"}, sst2(model, 16, "4", one)), imp)));
    REQUIRE_MESSAGE(r1.exit_code == 0, r1.err);
    auto r2 = lt::run_lth(args_line(launch2(cat(cat({"prune"}, sst2(model, 8, "4", two)), imp))));
    REQUIRE_MESSAGE(r2.exit_code == 0, r2.err);
    const std::string a = only_run(one), b = only_run(two);
    for (int level = 1; level <= 2; ++level) {
      const std::string rel = "/level_" + std::to_string(level) + "/mask.safetensors";
      lth::io::SafetensorsFile fa(a + rel), fb(b + rel);
      int64_t total = 0, same = 0;
      for (const auto& [name, t] : fa.load_all()) {
        auto u = fb.load(name);
        total += t.numel();
        same += t.eq(u).sum().item<int64_t>();
      }
      REQUIRE(total > 0);
      const double agree = static_cast<double>(same) / static_cast<double>(total);
      MESSAGE("level " << level << ": masks agree on " << same << " of " << total << " weights");
      CHECK(agree >= 0.9999);
    }
    CHECK(lth::path_exists(b + "/summary.json"));
  }

  TEST_CASE("a killed worker fails the job naming its rank; the same command resumes to an uninterrupted run's weights") {
    lt::TempDir tmp("dist-kill");
    // With dropout: each rank's generator state is in the checkpoint, so resuming is exact.
    const auto command = [&](const std::string& out) {
      return launch2(cat({"finetune"}, cat(sst2(fixture(), 8, "24", out), {"--save-every", "3it", "--eval-every", "1it"})));
    };
    const std::string straight = tmp.file("straight"), killed = tmp.file("killed");
    auto r = lt::run_lth(args_line(command(straight)));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);

    const std::string err_path = tmp.file("launch.err");
    const pid_t launcher = spawn_lth(command(killed), err_path);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    pid_t rank1 = -1;
    bool checkpointed = false;
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      const std::string err = lth::path_exists(err_path) ? lth::read_file(err_path) : std::string();
      if (rank1 < 0 && std::regex_search(err, m, std::regex("rank 1 \\(pid ([0-9]+)\\) started"))) rank1 = std::stoi(m[1]);
      if (rank1 > 0 && lth::path_exists(killed + "/checkpoint/state.safetensors")) {
        checkpointed = true;
        break;
      }
      int status = 0;
      if (::waitpid(launcher, &status, WNOHANG) == launcher) FAIL("the job ended before it could be killed: " << err);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    REQUIRE(checkpointed);
    REQUIRE(::kill(rank1, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(launcher, &status, 0) == launcher);
    const std::string err = lth::read_file(err_path);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 128 + SIGKILL);
    CHECK_MESSAGE(err.find("worker rank 1") != std::string::npos, err);
    CHECK_MESSAGE(err.find("killed by signal 9") != std::string::npos, err);
    CHECK_FALSE(lth::path_exists(killed + "/result.json"));

    r = lt::run_lth(args_line(command(killed)));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(r.err.find("resuming") != std::string::npos, r.err);
    CHECK(max_abs_diff(straight + "/model/model.safetensors", killed + "/model/model.safetensors") == 0.0);
    CHECK(dev_lines(straight).size() == dev_lines(killed).size());
  }
}
