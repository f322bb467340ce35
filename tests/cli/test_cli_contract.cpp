// The CLI contract: bad input anywhere -> exit 1 (2 for usage) with ONE stderr line "lth: error: ..."
// naming the file or the problem, never a crash, and no output (nor a temporary file) left behind.
// Plus lth inspect (parameter count from the safetensors header), lth --version, bare lth.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "core/omp_wait.h"
#include "io/safetensors.h"
#include "tests/cli/cli_testing.h"

namespace fs = std::filesystem;
namespace lt = lth::testing;
using lt::lines_of;
using lt::quote;

namespace {

// A writable copy of the fixture checkpoint.
std::string copy_fixture(const lt::TempDir& tmp) {
  const std::string dir = tmp.file("model");
  fs::copy(lt::fixture_model(), dir, fs::copy_options::recursive);
  return dir;
}

void write_inputs(const std::string& path, const nlohmann::json& j) { std::ofstream(path) << j.dump(); }

nlohmann::json good_inputs() {
  return {{"input_ids", {{2, 15, 27, 3}, {2, 40, 3, 0}}},
          {"attention_mask", {{1, 1, 1, 1}, {1, 1, 1, 0}}},
          {"token_type_ids", {{0, 0, 0, 0}, {0, 0, 0, 0}}}};
}

// Runs `lth forward` and checks the contract for a failure: the exit code, one stderr line starting
// with "lth: error:" that contains every `needles` entry, no --out file and no temporary file.
void expect_forward_fails(const std::string& model, const std::string& inputs, int code,
                          const std::vector<std::string>& needles, const std::string& extra = "") {
  lt::TempDir out("contract-out");
  const std::string out_file = out.file("out.safetensors");
  const auto r = lt::run_lth("forward --model " + quote(model) + " --inputs " + quote(inputs) + " --out " +
                             quote(out_file) + " --threads 1" + extra);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == code);
  const auto lines = lines_of(r.err);
  CHECK(lines.size() == 1);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0].rfind("lth: error: ", 0) == 0);
  for (const auto& n : needles) CHECK_MESSAGE(lines[0].find(n) != std::string::npos, "missing '" << n << "'");
  CHECK_FALSE(lth::path_exists(out_file));
  CHECK(lt::temp_files_in(out.path()) == 0);
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("contract: lth forward on good input writes the outputs (the baseline of the cases below)") {
    lt::TempDir tmp("contract-ok");
    write_inputs(tmp.file("in.json"), good_inputs());
    const auto r = lt::run_lth("forward --model " + quote(lt::fixture_model()) + " --inputs " + quote(tmp.file("in.json")) +
                               " --out " + quote(tmp.file("out.safetensors")) + " --threads 1");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    lth::io::SafetensorsFile f(tmp.file("out.safetensors"));
    CHECK(f.entry("last_hidden_state").shape == std::vector<int64_t>{2, 4, 32});
    CHECK(f.entry("logits").shape == std::vector<int64_t>{2, 3});
    CHECK(f.contains("hidden_states.2"));
    CHECK(lt::temp_files_in(tmp.path()) == 0);
  }

  TEST_CASE("contract: a truncated model.safetensors is exit 1 naming the file") {
    lt::TempDir tmp("contract-trunc");
    const std::string model = copy_fixture(tmp);
    const std::string weights = model + "/model.safetensors";
    fs::resize_file(weights, fs::file_size(weights) / 2);
    write_inputs(tmp.file("in.json"), good_inputs());
    expect_forward_fails(model, tmp.file("in.json"), 1, {"model.safetensors"});
  }

  TEST_CASE("contract: a config.json that is not JSON is exit 1 naming the file") {
    lt::TempDir tmp("contract-config");
    const std::string model = copy_fixture(tmp);
    std::ofstream(model + "/config.json", std::ios::trunc) << "{\"hidden_size\": 32, \"num_hidden_layers\": ";
    write_inputs(tmp.file("in.json"), good_inputs());
    expect_forward_fails(model, tmp.file("in.json"), 1, {"config.json"});
  }

  TEST_CASE("contract: a token id >= vocab_size is exit 1 naming the inputs file") {
    lt::TempDir tmp("contract-vocab");
    auto in = good_inputs();
    in["input_ids"][1][2] = 200;  // vocab_size 200
    write_inputs(tmp.file("in.json"), in);
    expect_forward_fails(lt::fixture_model(), tmp.file("in.json"), 1, {tmp.file("in.json"), "200"});
  }

  TEST_CASE("contract: ragged input rows are exit 1 naming the inputs file") {
    lt::TempDir tmp("contract-ragged");
    nlohmann::json in = {{"input_ids", {{2, 15, 27, 3}, {2, 3}}}};
    write_inputs(tmp.file("in.json"), in);
    expect_forward_fails(lt::fixture_model(), tmp.file("in.json"), 1, {tmp.file("in.json")});
    nlohmann::json mask_ragged = {{"input_ids", {{2, 15, 27, 3}}}, {"attention_mask", {{1, 1, 1}}}};
    write_inputs(tmp.file("in2.json"), mask_ragged);
    expect_forward_fails(lt::fixture_model(), tmp.file("in2.json"), 1, {tmp.file("in2.json")});
  }

  TEST_CASE("contract: a sequence longer than max_position_embeddings is exit 1 naming the inputs file") {
    lt::TempDir tmp("contract-long");
    std::vector<int> ids(65, 7);
    write_inputs(tmp.file("in.json"), nlohmann::json{{"input_ids", {ids}}});
    expect_forward_fails(lt::fixture_model(), tmp.file("in.json"), 1, {tmp.file("in.json"), "64"});
    std::vector<int> ok(64, 7);  // exactly the limit is fine
    write_inputs(tmp.file("ok.json"), nlohmann::json{{"input_ids", {ok}}});
    const auto r = lt::run_lth("forward --model " + quote(lt::fixture_model()) + " --inputs " + quote(tmp.file("ok.json")) +
                               " --out " + quote(tmp.file("ok.safetensors")) + " --threads 1");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
  }

  TEST_CASE("contract: inputs that are not JSON, or a missing inputs file, are exit 1 naming the file") {
    lt::TempDir tmp("contract-inputs");
    std::ofstream(tmp.file("bad.json")) << "[[1, 2, 3";
    expect_forward_fails(lt::fixture_model(), tmp.file("bad.json"), 1, {tmp.file("bad.json")});
    expect_forward_fails(lt::fixture_model(), tmp.file("missing.json"), 1, {tmp.file("missing.json")});
  }

  TEST_CASE("contract: a missing model directory is exit 1 naming it") {
    lt::TempDir tmp("contract-nomodel");
    write_inputs(tmp.file("in.json"), good_inputs());
    expect_forward_fails(tmp.file("no-such-model"), tmp.file("in.json"), 1, {tmp.file("no-such-model")});
  }

  TEST_CASE("contract: usage errors are exit 2 with one line: missing flags, unknown flag, --device cuda") {
    lt::TempDir tmp("contract-usage");
    write_inputs(tmp.file("in.json"), good_inputs());
    const std::string out = tmp.file("out.safetensors");
    struct Case {
      std::string args, needle;
    };
    const std::vector<Case> cases = {
        {"forward --inputs " + quote(tmp.file("in.json")) + " --out " + quote(out), "--model"},
        {"forward --model " + quote(lt::fixture_model()) + " --out " + quote(out), "--inputs"},
        {"forward --model " + quote(lt::fixture_model()) + " --inputs " + quote(tmp.file("in.json")), "--out"},
        {"forward --model " + quote(lt::fixture_model()) + " --inputs " + quote(tmp.file("in.json")) + " --out " +
             quote(out) + " --no-such-flag",
         "--no-such-flag"},
        {"forward --model " + quote(lt::fixture_model()) + " --inputs " + quote(tmp.file("in.json")) + " --out " +
             quote(out) + " --device cuda",
         "CUDA"},
        {"forward --model " + quote(lt::fixture_model()) + " --inputs " + quote(tmp.file("in.json")) + " --out " +
             quote(out) + " --device tpu",
         "tpu"},
        {"frobnicate", "frobnicate"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.args);
      const auto r = lt::run_lth(c.args);
      INFO("stderr: " << r.err);
      CHECK(r.exit_code == 2);
      const auto lines = lines_of(r.err);
      CHECK(lines.size() == 1);
      REQUIRE_FALSE(lines.empty());
      CHECK(lines[0].rfind("lth: error: ", 0) == 0);
      CHECK(lines[0].find(c.needle) != std::string::npos);
      CHECK_FALSE(lth::path_exists(out));
      CHECK(lt::temp_files_in(tmp.path()) == 0);
    }
  }

  TEST_CASE("lth inspect: architecture and the parameter count of the safetensors header") {
    lth::io::SafetensorsFile f(lt::fixture_model() + "/model.safetensors");
    int64_t total = 0;
    for (const auto& e : f.entries()) {
      int64_t n = 1;
      for (int64_t d : e.shape) n *= d;
      total += n;
    }
    REQUIRE(total > 0);
    auto r = lt::run_lth("inspect " + quote(lt::fixture_model()));
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("BertForSequenceClassification") != std::string::npos);
    CHECK_MESSAGE(r.out.find("parameters    " + std::to_string(total) + "\n") != std::string::npos, r.out);
    CHECK(r.out.find("2 layers, hidden 32") != std::string::npos);
    r = lt::run_lth("inspect --json " + quote(lt::fixture_model()));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["parameters"] == total);
    CHECK(j["architecture"] == "BertForSequenceClassification");
    int64_t sum = 0;
    for (const auto& m : j["per_module"]) sum += m["parameters"].get<int64_t>();
    CHECK(sum == total);
    // A directory without a checkpoint: exit 1 naming it.
    lt::TempDir empty("contract-inspect");
    r = lt::run_lth("inspect " + quote(empty.path()));
    CHECK(r.exit_code == 1);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.err.find(empty.path()) != std::string::npos);
  }

  TEST_CASE("lth --version prints the BLAS and threads lines; bare lth is exit 2") {
    auto r = lt::run_lth("--version");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    bool blas = false, threads = false;
    for (const auto& line : lines_of(r.out)) {
      if (line.rfind("blas ", 0) == 0) blas = true;
      if (line.rfind("threads ", 0) == 0) threads = true;
    }
    CHECK_MESSAGE(blas, r.out);
    CHECK_MESSAGE(threads, r.out);
    r = lt::run_lth("");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("forward") != std::string::npos);  // the help lists the commands
  }

  TEST_CASE("lth eval of a checkpoint without a head draws the same head in every run") {
    // The embedded model has no sequence-classification head: eval warns and scores a new one.
    const std::string cmd = "eval --model " + lt::quote(lt::source_dir() + "/data/bert-tiny") +
                            " --task glue/sst2 --data " + lt::quote(lt::shared_dir() + "/data/glue/SST-2") +
                            " --threads 1 --precision fp32";
    const auto first = lt::run_lth(cmd);
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    CHECK(first.err.find("randomly initialised head") != std::string::npos);
    const auto second = lt::run_lth(cmd);
    REQUIRE_MESSAGE(second.exit_code == 0, second.err);
    CHECK(nlohmann::json::parse(first.out) == nlohmann::json::parse(second.out));
  }

  TEST_CASE("lth sleeps its OpenMP workers passively unless the user chose; a user's spin count wins") {
    auto wait_line = [](const std::string& out) {
      for (const auto& line : lines_of(out)) {
        if (line.rfind("openmp wait policy ", 0) == 0) return line;
      }
      return std::string();
    };
    ::unsetenv("OMP_WAIT_POLICY");
    ::unsetenv("GOMP_SPINCOUNT");
    auto r = lt::run_lth("--version");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    // lth's own choice: PASSIVE, spinning 0 or core/omp_wait.h's short count (the machine's load decides).
    const std::string own = wait_line(r.out);
    CHECK_MESSAGE((own == "openmp wait policy PASSIVE, spin count 0" ||
                   own == fmt::format("openmp wait policy PASSIVE, spin count {}", lth::omp_wait::kSpinWhenFree)),
                  r.out);
    r = lt::run_lth("--version --threads 1");  // one thread has no team to wait for
    CHECK_MESSAGE(wait_line(r.out) == "openmp wait policy PASSIVE, spin count 0", r.out);
    ::setenv("GOMP_SPINCOUNT", "123", 1);
    r = lt::run_lth("--version");
    CHECK_MESSAGE(wait_line(r.out) == "openmp wait policy PASSIVE, spin count 123", r.out);
    ::setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
    ::unsetenv("GOMP_SPINCOUNT");
    r = lt::run_lth("--version");
    CHECK_MESSAGE(wait_line(r.out) == "openmp wait policy ACTIVE, spin count libgomp's default", r.out);
    ::unsetenv("OMP_WAIT_POLICY");
  }
}
