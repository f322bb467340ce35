// Issue 14, the command line: every input that used to crash, hang, blow up memory or give a silent
// wrong result now ends with exit 1 (runtime) or 2 (usage), ONE stderr line "lth: error: ..." of at
// most ~300 characters naming the option or file, and no output left behind. Plus the rules behind
// them: every numeric option has a declared range (flags and --config values alike), a run
// directory records its identity and refuses a run with other settings (--force replaces it), a
// resumed or finished run checks its saved identity, and no verb writes into another's run directory.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "io/safetensors.h"
#include "tests/cli/cli_testing.h"

namespace fs = std::filesystem;
namespace lt = lth::testing;
using json = nlohmann::json;
using lt::lines_of;
using lt::quote;

namespace {

// The failure contract: exit `code`, one stderr line "lth: error: ..." (<= 300 characters after the
// prefix) holding every needle, and `no_output` (when given) does not exist.
void expect_failure(const lt::RunResult& r, int code, const std::vector<std::string>& needles,
                    const std::string& no_output = "") {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == code);
  // Log lines ("[module] ...") may come first; the error is one line, the last.
  std::vector<std::string> errors;
  for (const auto& l : lines_of(r.err)) {
    if (l.rfind("[", 0) != 0) errors.push_back(l);
  }
  REQUIRE(errors.size() == 1);
  const std::string& line = errors[0];
  CHECK(line.rfind("lth: error: ", 0) == 0);
  CHECK(line.size() <= 300 + std::string("lth: error: ").size());
  for (const auto& n : needles) CHECK_MESSAGE(line.find(n) != std::string::npos, "missing '" << n << "'");
  if (!no_output.empty()) CHECK_MESSAGE(!lth::path_exists(no_output), no_output << " was left behind");
}

// A 100-example SST-2 cut (train) and a 16-example dev file, from the real data.
std::string sst2_cut(const lt::TempDir& tmp) {
  const std::string dir = tmp.file("sst2");
  fs::create_directories(dir);
  auto cut = [&](const std::string& from, const std::string& to, int rows) {
    std::ifstream in(lt::data_dir("glue/SST-2/" + from));
    std::ofstream out(dir + "/" + to);
    std::string line;
    for (int i = 0; i <= rows && std::getline(in, line); ++i) out << line << "\n";  // header + rows
  };
  cut("train.tsv", "train.tsv", 100);
  cut("dev.tsv", "dev.tsv", 16);
  return dir;
}

// `extra`, plus `flag value` unless `extra` gives that flag itself (CLI11 refuses a flag given twice).
std::string with_defaults(std::string extra, const std::vector<std::pair<std::string, std::string>>& defaults) {
  for (const auto& [flag, value] : defaults) {
    if ((" " + extra + " ").find(" " + flag + " ") == std::string::npos) extra += " " + flag + " " + value;
  }
  return extra;
}

std::string finetune_cmd(const std::string& data, const std::string& out, const std::string& extra = "") {
  return "finetune --model " + quote(lt::fixture_model()) + " --task glue/sst2 --data " + quote(data) + " --out " + quote(out) +
         " " + with_defaults(extra, {{"--steps", "2"}, {"--batch-size", "8"}, {"--max-train-examples", "16"}, {"--precision", "fp32"},
                                     {"--threads", "1"}, {"--max-length", "64"}});
}

// `--index-tokens` fits the fixture's vocabulary (it has [unused_extra0..]).
std::string mux_cmd(const std::string& data, const std::string& out, const std::string& extra = "") {
  return "mux train --model " + quote(lt::fixture_model()) + " --task glue/sst2 --data " + quote(data) + " --out " +
         quote(out) + " --index-tokens '[unused_extra{}]' " +
         with_defaults(extra, {{"--n", "2"}, {"--steps", "2"}, {"--batch-size", "4"}, {"--max-train-examples", "16"},
                               {"--precision", "fp32"}, {"--threads", "1"}, {"--max-length", "64"}});
}

// The dev-set evaluations a run's metrics.jsonl records.
std::vector<json> dev_evals(const std::string& path) {
  std::vector<json> out;
  for (const auto& l : lt::file_lines(path)) {
    if (l.empty()) continue;
    const json j = json::parse(l);
    if (j.value("split", "") == "dev" && j.value("phase", "task") == "task") out.push_back(j);
  }
  return out;
}

// Runs `lth <args>` in the background until `file` appears, then kills it with SIGKILL.
void run_until_then_kill(const std::string& args, const std::string& file) {
  const std::string cmd = quote(lt::lth_binary()) + " " + args + " >/dev/null 2>&1 </dev/null & pid=$!; " +
                          "i=0; while [ ! -f " + quote(file) + " ] && kill -0 $pid 2>/dev/null && [ $i -lt 1200 ]; " +
                          "do sleep 0.05; i=$((i+1)); done; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; true";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("reliability: --eval-every 0it means no mid-run evaluation, in finetune, prune and mux train") {
    lt::TempDir tmp("rel-eval0");
    const std::string data = sst2_cut(tmp);
    // finetune: 3 steps, one evaluation (the final one) instead of SIGFPE.
    auto r = lt::run_lth(finetune_cmd(data, tmp.file("ft"), "--steps 3 --eval-every 0it"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto lines = dev_evals(tmp.file("ft/metrics.jsonl"));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["step"] == 3);
    // Every step, for contrast: three evaluations.
    r = lt::run_lth(finetune_cmd(data, tmp.file("ft1"), "--steps 3 --eval-every 1it"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(dev_evals(tmp.file("ft1/metrics.jsonl")).size() == 3);

    r = lt::run_lth("prune " + lt::quick_flags() + " --task glue/sst2 --data " + quote(data) + " --out " +
                    quote(tmp.file("pr")) + " --steps 3 --batch-size 8 --max-train-examples 16 --levels 1 --eval-every 0it");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    int level_dirs = 0;
    for (const auto& e : fs::recursive_directory_iterator(tmp.file("pr"))) {
      if (e.path().filename() != "metrics.jsonl") continue;
      ++level_dirs;
      const auto m = dev_evals(e.path().string());
      REQUIRE(m.size() == 1);
      CHECK(m[0]["step"] == 3);
    }
    CHECK(level_dirs == 2);  // level 0 and level 1

    r = lt::run_lth(mux_cmd(data, tmp.file("mux"), "--steps 3 --eval-every 0it"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto mux_lines = dev_evals(tmp.file("mux/metrics.jsonl"));
    REQUIRE(mux_lines.size() == 1);
    CHECK(mux_lines[0]["step"] == 3);
  }

  TEST_CASE("reliability: --threads has one range in every verb; --version --threads 10000 returns") {
    auto r = lt::run_lth("--version --threads 10000");  // used to spawn threads forever
    expect_failure(r, 2, {"--threads", "0..1024", "10000"});
    r = lt::run_lth("version --threads 1025");
    expect_failure(r, 2, {"--threads", "1025"});
    r = lt::run_lth("version --threads 2");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("threads 2 of") != std::string::npos);

    lt::TempDir tmp("rel-threads");
    const std::string data = sst2_cut(tmp);
    const std::string out = tmp.file("run");
    // finetune used to accept -1; eval refused it: now both refuse it the same way.
    r = lt::run_lth(finetune_cmd(data, out, "--threads -1"));
    expect_failure(r, 2, {"--threads", "0..1024", "-1"}, out);
    const std::string ft_line = lines_of(r.err).back();
    r = lt::run_lth("eval --model " + quote(lt::fixture_model()) + " --task glue/sst2 --data " + quote(data) + " --threads -1");
    expect_failure(r, 2, {"--threads", "0..1024", "-1"});
    CHECK(lines_of(r.err).back() == ft_line);
  }

  TEST_CASE("reliability: eval --batch-size 0 or negative is a usage error (no 13 GB loop)") {
    lt::TempDir tmp("rel-evalbatch");
    const std::string data = sst2_cut(tmp);
    for (const char* bad : {"0", "-8"}) {
      auto r = lt::run_lth("eval --model " + quote(lt::fixture_model()) + " --task glue/sst2 --data " + quote(data) +
                           " --threads 1 --batch-size " + bad);
      expect_failure(r, 2, {"--batch-size", bad});
    }
  }

  TEST_CASE("reliability: every numeric option is range-checked, from a flag or from --config, before --out exists") {
    lt::TempDir tmp("rel-ranges");
    const std::string data = sst2_cut(tmp);
    const std::string out = tmp.file("run");
    struct Case {
      std::string verb, flags, needle;
    };
    const std::vector<Case> cases = {
        {"finetune", "--lr -1", "--lr"},           {"finetune", "--lr nan", "--lr"},
        {"finetune", "--lr inf", "--lr"},          {"finetune", "--weight-decay -5", "--weight-decay"},
        {"finetune", "--max-length 0", "--max-length"}, {"finetune", "--seed -1", "--seed"},
        {"finetune", "--threads -1", "--threads"}, {"finetune", "--batch-size 0", "--batch-size"},
        {"finetune", "--grad-accum 0", "--grad-accum"}, {"finetune", "--max-grad-norm -1", "--max-grad-norm"},
        {"finetune", "--max-train-examples -3", "--max-train-examples"},
        {"finetune", "--length 0it", "--length"},  {"finetune", "--eval-every 3xs", "--eval-every"},
        {"prune", "--target-sparsity 2", "--target-sparsity"}, {"prune", "--rate 1.5", "--rate"},
        {"prune", "--levels -1", "--levels"},     {"mux train", "--task-weight -1", "--task-weight"},
        {"mux train", "--retrieval-weight nan", "--retrieval-weight"}, {"mux train", "--n 0", "--n"},
        {"mux train", "--warmup-lr 0", "--warmup-lr"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.flags);
      const std::string base = c.verb == "mux train" ? mux_cmd(data, out)
                               : c.verb == "prune"
                                   ? "prune " + lt::quick_flags() + " --task glue/sst2 --data " + quote(data) + " --out " +
                                         quote(out) + " --steps 2"
                                   : finetune_cmd(data, out);
      expect_failure(lt::run_lth(base + " " + c.flags), 2, {c.needle}, out);
    }
    // The same ranges for values from --config: exit 1 (bad input file), naming the file and the key.
    for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
             {"lr", -1.0}, {"weight_decay", -5.0}, {"seed", -1}, {"grad_accum", 0},
             {"mlm_probability", 1.5}, {"warmup", "0ep1"}, {"eval_every", "x"}}) {
      CAPTURE(key);
      const std::string config = tmp.file("bad.json");
      std::ofstream(config) << json{{key, value}}.dump();
      expect_failure(lt::run_lth(finetune_cmd(data, out, "--config " + quote(config))), 1, {"bad.json", key}, out);
    }
    // A flag overrides a bad config value (precedence defaults < --config < flags).
    {
      std::ofstream(tmp.file("lr.json")) << json{{"lr", -1.0}}.dump();
      auto r = lt::run_lth(finetune_cmd(data, out, "--config " + quote(tmp.file("lr.json")) + " --lr 1e-3 --dump-config"));
      CHECK_MESSAGE(r.exit_code == 0, r.err);
      CHECK(json::parse(r.out)["lr"] == 1e-3);
    }
  }

  TEST_CASE("reliability: a run directory refuses a run with another identity; the same command resumes; --force replaces") {
    lt::TempDir tmp("rel-identity");
    const std::string data = sst2_cut(tmp);
    const std::string out = tmp.file("r");
    auto first = lt::run_lth(finetune_cmd(data, out, "--lr 1e-3"));
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    const std::string config = lth::read_file(out + "/config.json");
    const json run = lth::read_json_file(out + "/run.json");
    CHECK(run["command"] == "finetune");
    CHECK(run["identity"]["lr"] == 1e-3);
    CHECK_FALSE(run["identity"].contains("threads"));
    CHECK_FALSE(run["identity"].contains("out"));

    // The same command: skipped, same metrics, exit 0.
    auto again = lt::run_lth(finetune_cmd(data, out, "--lr 1e-3"));
    REQUIRE_MESSAGE(again.exit_code == 0, again.err);
    CHECK(again.out == first.out);
    CHECK(again.err.find("skipped") != std::string::npos);
    // Settings that do not change the result do not count: threads, eval and save intervals.
    again = lt::run_lth(finetune_cmd(data, out, "--lr 1e-3 --threads 2 --eval-every 1it --save-every 1it"));
    CHECK_MESSAGE(again.exit_code == 0, again.err);
    CHECK(again.out == first.out);
    const std::string config_now = lth::read_file(out + "/config.json");  // threads etc. as last given

    // Other settings (even another task): refused, naming what differs; config.json untouched.
    auto r = lt::run_lth(finetune_cmd(data, out, "--lr 2e-3"));
    expect_failure(r, 1, {"r/: existing run differs in", "lr (0.001 vs 0.002)", "--force"});
    r = lt::run_lth("finetune " + lt::quick_flags() + " --task glue/rte --data " + quote(data) + " --out " + quote(out) +
                    " --steps 2 --batch-size 8 --max-train-examples 16 --precision fp32 --lr 2e-3");
    expect_failure(r, 1, {"task (glue/sst2 vs glue/rte)", "lr (0.001 vs 0.002)"});
    CHECK(lth::read_file(out + "/config.json") == config_now);
    // Another verb into the same directory: refused too.
    r = lt::run_lth(mux_cmd(data, out, "--lr 1e-3"));
    expect_failure(r, 1, {"lth finetune vs lth mux train"});
    CHECK(lth::read_file(out + "/config.json") == config_now);

    // --force: the old run is replaced by the new one.
    r = lt::run_lth(finetune_cmd(data, out, "--lr 2e-3 --force"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.err.find("skipped") == std::string::npos);
    CHECK(lth::read_json_file(out + "/config.json")["lr"] == 2e-3);
    CHECK(lth::read_json_file(out + "/run.json")["identity"]["lr"] == 2e-3);
  }

  TEST_CASE("reliability: transfer and mux train keep their identity too") {
    lt::TempDir tmp("rel-identity2");
    const std::string data = sst2_cut(tmp);
    // mux train: the same command skips, another --task-weight is refused.
    const std::string mux = tmp.file("mux");
    auto r = lt::run_lth(mux_cmd(data, mux));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string config = lth::read_file(mux + "/config.json");
    auto again = lt::run_lth(mux_cmd(data, mux));
    CHECK_MESSAGE(again.exit_code == 0, again.err);
    CHECK(again.out == r.out);
    expect_failure(lt::run_lth(mux_cmd(data, mux, "--task-weight 0.5")), 1, {"mux.task_weight (0.9 vs 0.5)"});
    CHECK(lth::read_file(mux + "/config.json") == config);

    // transfer: a mask from a 1-level prune, then another --lr or another mask is refused.
    r = lt::run_lth("prune " + lt::quick_flags() + " --task glue/sst2 --data " + quote(data) + " --out " +
                    quote(tmp.file("pr")) + " --steps 2 --batch-size 8 --max-train-examples 16 --levels 2");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string run_dir = lines_of(r.out).back();
    const std::string mask1 = run_dir + "/level_1/mask.safetensors", mask2 = run_dir + "/level_2/mask.safetensors";
    const std::string out = tmp.file("tr");
    auto transfer = [&](const std::string& mask, const std::string& extra) {
      return lt::run_lth("transfer --model " + quote(lt::fixture_model()) + " --task glue/sst2 --data " + quote(data) +
                         " --out " + quote(out) + " --steps 2 --batch-size 8 --max-train-examples 16 --precision fp32 --mask " +
                         quote(mask) + " " + with_defaults(extra, {{"--threads", "1"}, {"--max-length", "64"}}));
    };
    auto t1 = transfer(mask1, "");
    REQUIRE_MESSAGE(t1.exit_code == 0, t1.err);
    auto t2 = transfer(mask1, "--threads 2");
    CHECK_MESSAGE(t2.exit_code == 0, t2.err);
    CHECK(t2.out == t1.out);
    expect_failure(transfer(mask1, "--lr 1e-3"), 1, {"differs in lr"});
    expect_failure(transfer(mask2, ""), 1, {"differs in mask_sha256"});
  }

  TEST_CASE("reliability: a killed run resumed with another --lr or --batch-size is refused; the same settings resume") {
    lt::TempDir tmp("rel-resume");
    const std::string data = sst2_cut(tmp);
    const std::string out = tmp.file("r");
    const std::string ckpt = out + "/checkpoint/state.safetensors";
    auto cmd = [&](const std::string& settings) {
      return "finetune --model " + quote(lt::fixture_model()) + " --task glue/sst2 --data " + quote(data) + " --out " +
             quote(out) + " --max-train-examples 16 --precision fp32 --save-every 1it --eval-every 0it --no-save-models " +
             with_defaults(settings, {{"--threads", "1"}, {"--max-length", "64"}});
    };
    const std::string same = "--steps 1000 --batch-size 8";
    run_until_then_kill(cmd(same), ckpt);
    REQUIRE(lth::path_exists(ckpt));
    REQUIRE_FALSE(lth::path_exists(out + "/result.json"));
    expect_failure(lt::run_lth(cmd(same + " --lr 1e-3")), 1, {"differs in lr"});
    expect_failure(lt::run_lth(cmd("--steps 1000 --batch-size 4")), 1, {"batch_size (8 vs 4)"});
    expect_failure(lt::run_lth(cmd("--steps 6 --batch-size 8")), 1, {"length (1000it vs 6it)"});
    // The checkpoint checks its own saved identity too (here the run record was edited to agree).
    auto edit_record = [&](const std::string& key, const json& value) {
      json record = lth::read_json_file(out + "/run.json");
      record["identity"][key] = value;
      std::ofstream(out + "/run.json") << record.dump();
    };
    edit_record("batch_size", 4);
    expect_failure(lt::run_lth(cmd("--steps 1000 --batch-size 4")), 1, {"checkpoint/state.safetensors", "batch_size (8 vs 4)"});
    REQUIRE(lth::path_exists(ckpt));
    edit_record("batch_size", 8);
    // The same settings (other threads) resume where the run stopped and finish.
    auto r = lt::run_lth(cmd(same + " --threads 2"));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("resuming") != std::string::npos);
    REQUIRE(lth::path_exists(out + "/result.json"));
    // A finished run checks result.json's identity the same way.
    edit_record("lr", 1e-3);
    expect_failure(lt::run_lth(cmd(same + " --lr 1e-3")), 1, {"result.json", "differs in lr"});
  }

  TEST_CASE("reliability: mux train --mask uses the mask checks every other verb uses") {
    lt::TempDir tmp("rel-muxmask");
    const std::string data = sst2_cut(tmp);
    const std::string out = tmp.file("run");
    // A weights file is no mask (float tensors).
    const std::string weights = lt::fixture_model() + "/model.safetensors";
    expect_failure(lt::run_lth(mux_cmd(data, out, "--mask " + quote(weights))), 1, {"model.safetensors"}, out);
    // A U8 mask whose values are 255.
    {
      lth::io::SafetensorsFile f(weights);
      const std::string name = "bert.encoder.layer.0.attention.self.query.weight";
      const auto shape = f.entry(name).shape;
      std::vector<std::pair<std::string, at::Tensor>> t = {
          {name, at::full(shape, 255, at::TensorOptions().dtype(at::kByte))}};
      lth::io::save_safetensors(tmp.file("mask255.safetensors"), t, {});
      t[0].second = at::ones({3, 3}, at::TensorOptions().dtype(at::kByte));  // the wrong shape
      lth::io::save_safetensors(tmp.file("mask-shape.safetensors"), t, {});
    }
    expect_failure(lt::run_lth(mux_cmd(data, out, "--mask " + quote(tmp.file("mask255.safetensors")))), 1,
                   {"mask255.safetensors"}, out);
    expect_failure(lt::run_lth(mux_cmd(data, out, "--mask " + quote(tmp.file("mask-shape.safetensors")))), 1,
                   {"mask-shape.safetensors", "query.weight"}, out);
  }

  TEST_CASE("reliability: export and mask apply never write into a run directory") {
    lt::TempDir tmp("rel-modelout");
    const std::string data = sst2_cut(tmp);
    const std::string run = tmp.file("r");
    REQUIRE(lt::run_lth(finetune_cmd(data, run)).exit_code == 0);
    const std::string config = lth::read_file(run + "/config.json");
    auto r = lt::run_lth("export --model " + quote(lt::fixture_model()) + " --out " + quote(run));
    expect_failure(r, 2, {"r/: --out holds an lth finetune run"});
    r = lt::run_lth("export --model " + quote(lt::fixture_model()) + " --out " + quote(run + "/best"));
    expect_failure(r, 2, {"inside an lth finetune run directory"});
    // A mask for mask apply.
    r = lt::run_lth("prune " + lt::quick_flags() + " --task glue/sst2 --data " + quote(data) + " --out " +
                    quote(tmp.file("pr")) + " --steps 2 --batch-size 8 --max-train-examples 16 --levels 1");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string prune_run = lines_of(r.out).back();
    const std::string mask = prune_run + "/level_1/mask.safetensors";
    r = lt::run_lth("mask apply --mask " + quote(mask) + " --model " + quote(lt::fixture_model()) + " --out " + quote(run));
    expect_failure(r, 2, {"holds an lth finetune run"});
    r = lt::run_lth("mask apply --mask " + quote(mask) + " --model " + quote(lt::fixture_model()) + " --out " +
                    quote(prune_run));
    expect_failure(r, 2, {"holds an lth"});
    CHECK(lth::read_file(run + "/config.json") == config);
    // A non-empty directory that holds no model is refused; a new one, or an earlier export, is fine.
    fs::create_directories(tmp.file("notes"));
    std::ofstream(tmp.file("notes/readme.txt")) << "mine\n";
    expect_failure(lt::run_lth("export --model " + quote(lt::fixture_model()) + " --out " + quote(tmp.file("notes"))), 2,
                   {"notes/: --out is not empty"});
    for (int i = 0; i < 2; ++i) {
      r = lt::run_lth("export --model " + quote(lt::fixture_model()) + " --out " + quote(tmp.file("exported")));
      CHECK_MESSAGE(r.exit_code == 0, r.err);
    }
    // Nor does finetune write into a directory of other files, or prune into a finetune run.
    expect_failure(lt::run_lth(finetune_cmd(data, tmp.file("notes"))), 2, {"holds no lth run"});
    expect_failure(lt::run_lth("prune " + lt::quick_flags() + " --task glue/sst2 --data " + quote(data) + " --out " +
                               quote(run) + " --steps 2 --levels 1"),
                   2, {"holds an lth finetune run"});
  }

  TEST_CASE("reliability: lth plan checks tasks, baselines, the model and repeated flags before writing") {
    lt::TempDir tmp("rel-plan");
    const std::string out = tmp.file("plan");
    const std::string base = "plan --model " + quote(lt::fixture_model()) + " --out " + quote(out) + " ";
    expect_failure(lt::run_lth(base + "--tasks glue/sst2,glue/nope"), 2, {"unknown task 'glue/nope'"}, out);
    expect_failure(lt::run_lth(base + "--tasks glue/sst2 --baselines random,bogus"), 2, {"unknown baseline 'bogus'"}, out);
    expect_failure(lt::run_lth("plan --model " + quote(tmp.file("missing")) + " --out " + quote(out) + " --tasks glue/sst2"),
                   1, {"missing"}, out);
    expect_failure(lt::run_lth(base + "--tasks glue/sst2 --levels 3 --levels 4"), 2, {"--levels"}, out);
    expect_failure(lt::run_lth(base + "--tasks glue/sst2,glue/sst2"), 2, {"given twice"}, out);
    expect_failure(lt::run_lth(base + "--tasks glue/sst2 --flags '--epochs 1 --epochs 2'"), 2, {"--epochs", "twice"}, out);
    expect_failure(lt::run_lth(base + "--tasks glue/sst2 --flags '--seed 3'"), 2, {"--seed"}, out);
    expect_failure(lt::run_lth(base + "--tasks glue/sst2 --seeds 1,1"), 2, {"--seeds"}, out);
    auto r = lt::run_lth(base + "--tasks glue/sst2,glue/rte --seeds 1,2 --levels 2 --baselines random");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(lth::read_json_file(out + "/jobs.json")["jobs"].size() == 4);
    // --script without a directory: the stage files go beside it, in the current directory (not "/").
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(tmp.path());
    r = lt::run_lth("plan --model " + quote(lt::fixture_model()) + " --out " + quote(tmp.file("plan2")) +
                    " --tasks glue/sst2 --levels 1 --script jobs.sh");
    std::filesystem::current_path(cwd);
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(lth::path_exists(tmp.file("jobs.sh")));
    CHECK(lth::path_exists(tmp.file("jobs.stage1.txt")));
  }

  TEST_CASE("reliability: errors are one line of at most ~300 characters naming the file; --verbose adds the detail") {
    lt::TempDir tmp("rel-long");
    // A mask naming 200 parameters the model lacks: the error used to list all of them on one line.
    std::vector<std::pair<std::string, at::Tensor>> t;
    for (int i = 0; i < 200; ++i) {
      t.emplace_back("bert.encoder.layer." + std::to_string(100 + i) + ".attention.self.query.weight",
                     at::ones({2, 2}, at::TensorOptions().dtype(at::kByte)));
    }
    const std::string mask = tmp.file("long-mask.safetensors");
    lth::io::save_safetensors(mask, t, {});
    const std::string cmd = "mask apply --mask " + quote(mask) + " --model " + quote(lt::fixture_model()) + " --out " +
                            quote(tmp.file("out"));
    auto r = lt::run_lth(cmd);
    expect_failure(r, 1, {"long-mask.safetensors", "--verbose"}, tmp.file("out"));
    CHECK(r.err.find("layer.299.") == std::string::npos);  // the line summarises: "(and N more ...)"
    CHECK(lines_of(r.err).size() == 1);
    // --verbose (before or after the command) keeps the first line short and then lists every problem.
    for (const std::string& v : {"--verbose " + cmd, cmd + " --verbose"}) {
      CAPTURE(v);
      r = lt::run_lth(v);
      CHECK(r.exit_code == 1);
      const auto lines = lines_of(r.err);
      REQUIRE(lines.size() >= 2);
      CHECK(lines[0].size() <= 312);
      CHECK(lines[0].find("long-mask.safetensors") != std::string::npos);
      for (int i = 100; i < 300; ++i) {
        CAPTURE(i);
        CHECK(r.err.find("bert.encoder.layer." + std::to_string(i) + ".attention.self.query.weight' is not a parameter") !=
              std::string::npos);
      }
    }
  }

  TEST_CASE("reliability: a run that fails after validation leaves no run directory behind") {
    lt::TempDir tmp("rel-leftover");
    const std::string data = sst2_cut(tmp);
    const std::string out = tmp.file("tr");
    // A mask for another model shape: transfer fails after claiming --out, which is removed again.
    std::vector<std::pair<std::string, at::Tensor>> t = {
        {"bert.encoder.layer.0.attention.self.query.weight", at::ones({3, 3}, at::TensorOptions().dtype(at::kByte))}};
    lth::io::save_safetensors(tmp.file("m.safetensors"), t, {});
    auto r = lt::run_lth("transfer " + lt::quick_flags() + " --task glue/sst2 --data " + quote(data) + " --out " + quote(out) +
                         " --steps 2 --mask " + quote(tmp.file("m.safetensors")));
    expect_failure(r, 1, {"m.safetensors"}, out);
    // A missing data directory, a bad step: nothing is created.
    expect_failure(lt::run_lth(finetune_cmd(tmp.file("nodata"), tmp.file("ft"))), 1, {"nodata"}, tmp.file("ft"));
    expect_failure(lt::run_lth(finetune_cmd(data, tmp.file("ft"), "--warmup 5qq")), 2, {"--warmup"}, tmp.file("ft"));
  }
}
