// `lth tokenize` end to end (the HF parity of its output is checked by ../shared/checks/hf_parity.py).
#include <fstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "tests/tokenize/tok_testing.h"

using nlohmann::json;
using lth::testing::quote;

namespace {

bool have_lth() {
  const char* bin = std::getenv("LTH_BINARY");
  return bin != nullptr && lth::path_exists(bin);
}

}  // namespace

TEST_SUITE("tokenize") {
  TEST_CASE("lth tokenize prints tokens, ids and code point offsets") {
    REQUIRE_MESSAGE(have_lth(), "the lth binary is not built (LTH_BINARY)");
    const std::string vocab = quote(lth::testing::vocab_path("bert-base-uncased"));
    auto r = lth::testing::run_lth("tokenize --vocab " + vocab + " --text " + quote("Caf\xC3\xA9 a[MASK]b") + " --pair " +
                                   quote("\xE4\xB8\xAD x") + " --max-length 12 --pad-to-max-length");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json j = json::parse(r.out);
    CHECK(j["tokens"] == json({"[CLS]", "cafe", "a", "[MASK]", "b", "[SEP]", "\xE4\xB8\xAD", "x", "[SEP]", "[PAD]", "[PAD]", "[PAD]"}));
    CHECK(j["input_ids"].size() == 12);
    CHECK(j["token_type_ids"] == json({0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0}));
    CHECK(j["attention_mask"] == json({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}));
    CHECK(j["offsets"] == json({{0, 0}, {0, 4}, {5, 6}, {6, 12}, {12, 13}, {0, 0}, {0, 1}, {2, 3}, {0, 0}, {0, 0}, {0, 0}, {0, 0}}));

    lth::testing::TempDir dir("cli-tok");
    std::ofstream(dir.file("in.jsonl")) << R"({"text": "Hello world", "text_pair": null})" << "\n"
                                        << R"({"text": "Hello", "text_pair": "there"})" << "\n";
    r = lth::testing::run_lth("tokenize --model " + quote(lth::testing::shared_dir() + "/fixtures/hf-bert/model") +
                              " --jsonl " + quote(dir.file("in.jsonl")));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    int lines = 0;
    for (std::size_t pos = 0; pos < r.out.size(); pos = r.out.find('\n', pos) + 1, ++lines) {
      const json k = json::parse(r.out.substr(pos, r.out.find('\n', pos) - pos));
      CHECK(k["input_ids"][0] == 2);  // the fixture vocabulary's [CLS]
    }
    CHECK(lines == 2);
  }

  TEST_CASE("lth tokenize: bad input is exit 1, bad flags exit 2") {
    REQUIRE_MESSAGE(have_lth(), "the lth binary is not built (LTH_BINARY)");
    const std::string vocab = quote(lth::testing::vocab_path("bert-base-uncased"));
    lth::testing::TempDir dir("cli-tok-err");
    std::ofstream(dir.file("bad.jsonl")) << R"({"text": "ok"})" << "\n" << R"({"text": "oops)" << "\n";
    auto r = lth::testing::run_lth("tokenize --vocab " + vocab + " --jsonl " + quote(dir.file("bad.jsonl")));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("bad.jsonl:2:") != std::string::npos);
    r = lth::testing::run_lth("tokenize --vocab " + vocab + " --text a --jsonl " + quote(dir.file("bad.jsonl")));
    CHECK(r.exit_code == 2);
    r = lth::testing::run_lth("tokenize --text a");
    CHECK(r.exit_code == 2);
    r = lth::testing::run_lth("tokenize --vocab " + vocab + " --model x --text a");
    CHECK(r.exit_code == 2);
    r = lth::testing::run_lth("tokenize --vocab " + vocab + " --lowercase --no-lowercase --text a");
    CHECK(r.exit_code == 2);
    r = lth::testing::run_lth("tokenize --vocab " + quote(dir.file("none.txt")) + " --text a");
    CHECK(r.exit_code == 1);
  }
}
