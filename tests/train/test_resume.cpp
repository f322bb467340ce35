// Exact resume through the CLI: a run killed with SIGKILL after its first checkpoint, or stopped
// with SIGINT, and then run again with the same command ends with exactly the weights of a run that
// was never interrupted.
#include <doctest/doctest.h>

#include <signal.h>

#include <sstream>

#include <torch/torch.h>

#include "core/file.h"
#include "io/safetensors.h"
#include "tests/testing.h"

namespace lt = lth::testing;

namespace {

// A dev file of SST-2's first 48 examples: evaluating after every step stays cheap.
std::string tiny_dev(const lt::TempDir& tmp) {
  const std::string path = tmp.file("dev-48.tsv");
  std::istringstream in(lth::read_file(lt::shared_dir() + "/data/glue/SST-2/dev.tsv"));
  std::string out, line;
  for (int i = 0; i < 49 && std::getline(in, line); ++i) out += line + "\n";
  lth::write_file_atomic(path, out);
  return path;
}

// The same short fine-tuning command for every run, differing only in --out. Evaluating after
// every step (on a tiny dev file) keeps each step long enough for the run to be stopped between its
// checkpoints (every 3 steps of 24). fp32: the runs are compared bit for bit.
std::vector<std::string> finetune_args(const std::string& out, const std::string& dev) {
  return {"finetune", "--model", lt::shared_dir() + "/fixtures/hf-bert/model", "--task", "glue/sst2", "--data",
          lt::shared_dir() + "/data/glue/SST-2", "--dev", dev, "--max-length", "64", "--max-train-examples", "64",
          "--batch-size", "8", "--lr", "1e-3", "--weight-decay", "0.01", "--steps", "24", "--save-every", "3it",
          "--eval-every", "1it", "--threads", "1", "--precision", "fp32", "--out", out};
}

lt::RunResult run_to_end(const std::string& out, const std::string& dev) {
  std::string args;
  for (const auto& a : finetune_args(out, dev)) args += lt::quote(a) + " ";
  return lt::run_lth(args);
}

void check_same_weights(const std::string& a_dir, const std::string& b_dir) {
  lth::io::SafetensorsFile a(a_dir + "/model/model.safetensors"), b(b_dir + "/model/model.safetensors");
  const auto ta = a.load_all(), tb = b.load_all();
  REQUIRE(ta.size() == tb.size());
  REQUIRE(!ta.empty());
  for (std::size_t i = 0; i < ta.size(); ++i) {
    CAPTURE(ta[i].first);
    CHECK(ta[i].first == tb[i].first);
    CHECK(torch::equal(ta[i].second, tb[i].second));
  }
}

}  // namespace

TEST_SUITE("train.resume") {
  TEST_CASE("kill -9 after a checkpoint, run again: the same weights as an uninterrupted run; SIGINT too") {
    lt::TempDir tmp("resume");
    const std::string dev = tiny_dev(tmp);
    const std::string straight = tmp.file("straight");
    auto r = run_to_end(straight, dev);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);

    {  // SIGKILL
      const std::string killed = tmp.file("killed");
      const pid_t pid = lt::spawn_lth(finetune_args(killed, dev), tmp.path());
      const bool appeared = lt::wait_for_file(killed + "/checkpoint/state.safetensors", pid);
      if (appeared) ::kill(pid, SIGKILL);
      const lt::Exit e = lt::wait_exit(pid);
      REQUIRE_MESSAGE(appeared, lth::read_file(tmp.file("stderr")));
      CHECK(e.signal == SIGKILL);
      REQUIRE_FALSE(lth::path_exists(killed + "/result.json"));  // it really stopped midway
      CHECK(lth::path_exists(killed + "/checkpoint/state.safetensors"));

      r = run_to_end(killed, dev);
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      CHECK_MESSAGE(r.err.find("resuming") != std::string::npos, r.err);
      CHECK_FALSE(lth::path_exists(killed + "/checkpoint"));
      check_same_weights(straight, killed);
    }

    {  // SIGINT, after which the run saves a checkpoint and says so
      const std::string stopped = tmp.file("stopped");
      const pid_t pid = lt::spawn_lth(finetune_args(stopped, dev), tmp.path());
      const bool appeared = lt::wait_for_file(stopped + "/checkpoint/state.safetensors", pid);
      if (appeared) ::kill(pid, SIGINT);
      const lt::Exit e = lt::wait_exit(pid);
      const std::string err = lth::read_file(tmp.file("stderr"));
      REQUIRE_MESSAGE(appeared, err);
      CHECK(e.code == 1);
      CHECK_MESSAGE(err.find("interrupted") != std::string::npos, err);
      CHECK(lth::path_exists(stopped + "/checkpoint/state.safetensors"));
      CHECK_FALSE(lth::path_exists(stopped + "/result.json"));

      r = run_to_end(stopped, dev);
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      CHECK_MESSAGE(r.err.find("resuming") != std::string::npos, r.err);
      check_same_weights(straight, stopped);
    }
  }
}
