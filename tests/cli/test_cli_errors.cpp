// Bad input through the CLI: exit 1 for runtime errors (with the file and line, or the key),
// exit 2 for usage errors; --dump-config prints the resolved config and stops.
#include <fstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "tests/cli/cli_testing.h"

using nlohmann::json;
namespace lt = lth::testing;
using lt::quote;

TEST_SUITE("cli") {
  TEST_CASE("a malformed TSV row is exit 1 naming FILE:LINE") {
    lt::TempDir tmp("cli-badtsv");
    std::ofstream(tmp.file("train.tsv")) << "sentence\tlabel\n"
                                         << "a fine film \t1\n"
                                         << "no label column here\n"
                                         << "dull \t0\n";
    std::ofstream(tmp.file("dev.tsv")) << "sentence\tlabel\ngood \t1\n";
    const auto r = lt::run_lth("finetune " + lt::quick_flags() + " --task glue/sst2 --data " + quote(tmp.path()) +
                               " --out " + quote(tmp.file("run")) + " --steps 1");
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find(tmp.file("train.tsv") + ":3") != std::string::npos, r.err);
    CHECK_FALSE(lth::path_exists(tmp.file("run/result.json")));
  }

  TEST_CASE("a bad CoNLL line is exit 1 naming FILE:LINE") {
    lt::TempDir tmp("cli-badconll");
    std::ofstream(tmp.file("eng.train")) << "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ\n";
    const auto r = lt::run_lth("finetune " + lt::quick_flags() + " --task ner/conll2003 --data " + quote(tmp.path()) +
                               " --out " + quote(tmp.file("run")) + " --steps 1");
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find(tmp.file("eng.train") + ":4") != std::string::npos, r.err);
  }

  TEST_CASE("an unknown task is exit 2") {
    lt::TempDir tmp("cli-task");
    const auto r = lt::run_lth("finetune " + lt::quick_flags() + " --task glue/nonesuch --data " + quote(tmp.path()) +
                               " --out " + quote(tmp.file("run")));
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("glue/nonesuch") != std::string::npos, r.err);
    CHECK_MESSAGE(r.err.find("squad/v1.1") != std::string::npos, r.err);  // the known tasks are listed
  }

  TEST_CASE("a missing --model is exit 2") {
    lt::TempDir tmp("cli-model");
    auto r = lt::run_lth("finetune --task glue/sst2 --data " + quote(lt::data_dir("glue/SST-2")) + " --out " +
                         quote(tmp.file("run")));
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("--model") != std::string::npos, r.err);
    r = lt::run_lth("eval --task glue/sst2 --data " + quote(lt::data_dir("glue/SST-2")));
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("--model") != std::string::npos, r.err);
  }

  TEST_CASE("a config file with an unknown key is exit 1 naming the key") {
    lt::TempDir tmp("cli-config");
    std::ofstream(tmp.file("config.json")) << R"({"lr": 0.001, "learning_rat": 0.01})";
    const auto r = lt::run_lth("finetune " + lt::quick_flags() + " --task glue/sst2 --data " +
                               quote(lt::data_dir("glue/SST-2")) + " --out " + quote(tmp.file("run")) + " --config " +
                               quote(tmp.file("config.json")));
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find("learning_rat") != std::string::npos, r.err);
    CHECK_FALSE(lth::path_exists(tmp.file("run")));
  }

  TEST_CASE("--dump-config prints the resolved config (defaults < file < flags) and exits 0") {
    lt::TempDir tmp("cli-dump");
    std::ofstream(tmp.file("config.json")) << R"({"lr": 0.001, "batch_size": 4, "task": "glue/rte"})";
    const auto r = lt::run_lth("finetune --model " + quote(lt::fixture_model()) + " --task glue/sst2 --config " +
                               quote(tmp.file("config.json")) + " --batch-size 16 --out " + quote(tmp.file("run")) +
                               " --dump-config");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json j = json::parse(r.out);
    CHECK(j["lr"].get<double>() == doctest::Approx(0.001));  // from the file
    CHECK(j["batch_size"] == 16);                             // the flag wins over the file
    CHECK(j["task"] == "glue/sst2");
    CHECK(j["weight_decay"].get<double>() == 0.0);            // default
    CHECK_FALSE(lth::path_exists(tmp.file("run")));           // nothing was run
  }

  TEST_CASE("one option table: every key is its flag without dashes, and --dump-config reads back as --config") {
    lt::TempDir tmp("cli-table");
    const std::string base = "prune --model " + quote(lt::fixture_model()) + " --task glue/sst2 ";
    // Flags (old spellings among them) and the keys they set.
    auto r = lt::run_lth(base + "--levels 3 --schedule linear --baselines random,reinit --train a.tsv --dev-file b.tsv "
                                "--no-group-by-length --no-save-models --pad-to-max-length --epochs 2 --dump-config");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json j = json::parse(r.out);
    CHECK(j["levels"] == 3);
    CHECK(j["schedule"] == "linear");
    CHECK(j["baselines"] == json::array({"random", "reinit"}));
    CHECK(j["train_file"] == "a.tsv");
    CHECK(j["dev_file"] == "b.tsv");
    CHECK(j["group_by_length"] == false);
    CHECK(j["save_models"] == false);
    CHECK(j["pad_to_max_length"] == true);
    CHECK(j["length"] == "2ep");
    // The dump as a config file resolves to the same config.
    std::ofstream(tmp.file("dumped.json")) << r.out;
    auto again = lt::run_lth("prune --config " + quote(tmp.file("dumped.json")) + " --dump-config");
    REQUIRE_MESSAGE(again.exit_code == 0, again.err);
    CHECK(json::parse(again.out) == j);
    // An IMP key from a file is range-checked like its flag: exit 1 naming the file and key.
    std::ofstream(tmp.file("levels.json")) << R"({"levels": 5000})";
    auto bad = lt::run_lth(base + "--config " + quote(tmp.file("levels.json")) + " --dump-config");
    CHECK(bad.exit_code == 1);
    CHECK_MESSAGE(bad.err.find("levels.json") != std::string::npos, bad.err);
    CHECK_MESSAGE(bad.err.find("levels must be an integer in 0..1000") != std::string::npos, bad.err);
    CHECK(lt::run_lth(base + "--levels 5000 --dump-config").exit_code == 2);
    // lth mux train: its settings are config.json's "mux" section, flags flat (--n), keys nested.
    const std::string mux = "mux train --model " + quote(lt::fixture_model()) + " --task glue/sst2 ";
    auto m = lt::run_lth(mux + "--n 3 --demux keys --dump-config");
    REQUIRE_MESSAGE(m.exit_code == 0, m.err);
    const json mj = json::parse(m.out);
    CHECK(mj["mux"]["n"] == 3);
    CHECK(mj["mux"]["demux"] == "keys");
    std::ofstream(tmp.file("mux.json")) << m.out;
    auto m2 = lt::run_lth("mux train --config " + quote(tmp.file("mux.json")) + " --dump-config");
    REQUIRE_MESSAGE(m2.exit_code == 0, m2.err);
    CHECK(json::parse(m2.out) == mj);
    std::ofstream(tmp.file("mux-bad.json")) << R"({"mux": {"n": 4000}})";
    auto mb = lt::run_lth(mux + "--config " + quote(tmp.file("mux-bad.json")) + " --dump-config");
    CHECK(mb.exit_code == 1);
    CHECK_MESSAGE(mb.err.find("mux-bad.json: mux: n must be an integer in 1..512") != std::string::npos, mb.err);
    std::ofstream(tmp.file("mux-key.json")) << R"({"mux": {"nn": 4}})";
    auto mk = lt::run_lth(mux + "--config " + quote(tmp.file("mux-key.json")) + " --dump-config");
    CHECK(mk.exit_code == 1);
    CHECK_MESSAGE(mk.err.find("unknown key 'nn'") != std::string::npos, mk.err);
  }
}
