// lth's WordPiece against TODAY's transformers tokenizers, slow (pure Python) and fast (Rust
// `tokenizers`), both from scripts/gen-fixtures: the shared vocabularies on the tricky cases of
// ../shared/fixtures/hf-bert/tokenizer (committed, tests/fixtures/hf-current/tokenizer), and the real
// all-MiniLM-L6-v2 directory on >= 1,000 real SST-2 / SQuAD sentences and pairs (oracle written at
// test time). lth follows the slow tokenizer; it must equal the fast one wherever slow and fast agree.
#include <doctest/doctest.h>

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "tests/current/current_testing.h"
#include "tokenize/tokenizer.h"

using nlohmann::json;
namespace tk = lth::tokenize;

namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

json as_json(const tk::Encoding& e) {
  return {{"input_ids", e.input_ids}, {"token_type_ids", e.token_type_ids}, {"attention_mask", e.attention_mask},
          {"tokens", e.tokens}};
}

struct Tally {
  int checked = 0;                      // comparisons (one per case, setting and implementation)
  std::map<std::string, int> agree;     // impl -> comparisons where lth == impl
  std::vector<std::string> slow_fast;   // cases where slow != fast
  std::vector<std::string> lth_wrong;   // lth != slow, or lth != fast where slow == fast
  int inputs = 0;
};

// lth's result for one comparison against both implementations' values.
void compare(Tally& t, const std::string& what, const json& ours, const json& slow, const json& fast) {
  t.checked += 2;
  const bool s = ours == slow, f = ours == fast;
  t.agree["slow"] += s;
  t.agree["fast"] += f;
  if (slow != fast) t.slow_fast.push_back(what);
  if (!s || (!f && slow == fast)) t.lth_wrong.push_back(what + (s ? " (fast)" : " (slow)"));
}

Tally run(const tk::Tokenizer& tok, const json& d) {
  Tally t;
  const int max_length = d["max_length"].get<int>();
  for (const json& c : d["singles"]) {
    const std::string text = from_hex(c["text_utf8_hex"].get<std::string>());
    const std::string id = c["id"].get<std::string>();
    std::vector<std::int64_t> ids;
    for (const auto& p : tok.tokenize_with_offsets(text)) ids.push_back(p.id);
    compare(t, id + ":tokens", json(tok.tokenize(text)), c["slow"]["tokens"], c["fast"]["tokens"]);
    compare(t, id + ":ids", json(ids), c["slow"]["ids"], c["fast"]["ids"]);
    compare(t, id + ":encode", as_json(tok.encode(text)), c["slow"]["encode"], c["fast"]["encode"]);
    ++t.inputs;
  }
  for (const json& p : d["pairs"]) {
    const std::string a = from_hex(p["text_utf8_hex"].get<std::string>());
    const std::string b = from_hex(p["text_pair_utf8_hex"].get<std::string>());
    const std::string id = p["id"].get<std::string>();
    compare(t, id + ":no_truncation", as_json(tok.encode(a, &b)), p["slow"]["no_truncation"], p["fast"]["no_truncation"]);
    tk::EncodeOptions o;
    o.max_length = max_length;
    compare(t, id + ":longest_first", as_json(tok.encode(a, &b, o)), p["slow"]["longest_first"],
            p["fast"]["longest_first"]);
    o.pad_to_max_length = true;
    compare(t, id + ":longest_first_padded", as_json(tok.encode(a, &b, o)), p["slow"]["longest_first_padded"],
            p["fast"]["longest_first_padded"]);
    ++t.inputs;
  }
  for (const json& c : d["truncated"]) {
    const std::string text = from_hex(c["text_utf8_hex"].get<std::string>());
    const std::string id = c["id"].get<std::string>();
    tk::EncodeOptions o;
    o.max_length = max_length;
    compare(t, id + ":truncated", as_json(tok.encode(text, nullptr, o)), c["slow"]["truncated"], c["fast"]["truncated"]);
    o.pad_to_max_length = true;
    compare(t, id + ":truncated_padded", as_json(tok.encode(text, nullptr, o)), c["slow"]["truncated_padded"],
            c["fast"]["truncated_padded"]);
    ++t.inputs;
  }
  return t;
}

// The cases (ids) the generator found slow and fast to disagree on.
std::vector<std::string> recorded_disagreements(const json& d) {
  std::vector<std::string> out;
  for (const auto& [section, ids] : d["slow_fast_disagree"].items()) {
    for (const auto& id : ids) out.push_back(id.get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> case_ids(const std::vector<std::string>& whats) {
  std::vector<std::string> out;
  for (const auto& w : whats) out.push_back(w.substr(0, w.find(':')));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string report(const std::string& name, const Tally& t) {
  return fmt::format("{}: {} inputs, lth == slow on {}/{} comparisons, lth == fast on {}/{}; slow != fast on {} ({})",
                     name, t.inputs, t.agree.at("slow"), t.checked / 2, t.agree.at("fast"), t.checked / 2,
                     t.slow_fast.size(), fmt::join(t.slow_fast, ", "));
}

}  // namespace

TEST_SUITE("current") {
  TEST_CASE("the shared vocabularies match today's slow and fast BertTokenizer on the fixture cases") {
    for (const std::string name : {"bert-base-uncased", "bert-base-cased"}) {
      CAPTURE(name);
      const json d = json::parse(lth::read_file(lth::testing::current_fixture("tokenizer/" + name + ".json")));
      auto tok = tk::load_wordpiece(lth::testing::shared_dir() + "/data/vocab/" + name + "/vocab.txt",
                                    d["tokenizer"]["do_lower_case"].get<bool>());
      REQUIRE(tok->vocab_size() == d["tokenizer"]["vocab_size"].get<std::int64_t>());
      const Tally t = run(*tok, d);
      MESSAGE(report(name, t));
      CHECK(t.inputs == 77);
      INFO(fmt::format("{}", fmt::join(t.lth_wrong, ", ")));
      CHECK(t.lth_wrong.empty());
      CHECK(t.agree.at("slow") == t.checked / 2);
      CHECK(case_ids(t.slow_fast) == recorded_disagreements(d));
    }
  }

  TEST_CASE("all-MiniLM-L6-v2's tokenizer matches today's slow and fast BertTokenizer on real sentences") {
    const std::string dir = lth::testing::real_model_with_oracle("tokenizer.json");
    if (dir.empty()) return;
    const std::string oracle = lth::testing::real_oracle("tokenizer.json");
    const json d = json::parse(lth::read_file(oracle));
    auto tok = tk::load_tokenizer(dir);  // vocab.txt + tokenizer_config.json of the fetched directory
    CHECK(tok->kind() == "wordpiece");
    CHECK(tok->vocab_size() == 30522);
    CHECK(tok->model_max_length() == 512);
    const Tally t = run(*tok, d);
    MESSAGE(report("all-MiniLM-L6-v2 on SST-2 dev + SQuAD", t));
    CHECK(d["singles"].size() >= 1000);
    INFO(fmt::format("{}", fmt::join(t.lth_wrong.begin(), t.lth_wrong.begin() + std::min<size_t>(20, t.lth_wrong.size()), ", ")));
    CHECK(t.lth_wrong.empty());
    CHECK(t.agree.at("slow") == t.checked / 2);
    CHECK(case_ids(t.slow_fast) == recorded_disagreements(d));
  }

  TEST_CASE("lth tokenize --model takes all-MiniLM-L6-v2's directory as fetched") {
    const std::string dir = lth::testing::real_model_with_oracle("tokenizer.json");
    if (dir.empty()) return;
    const std::string oracle = lth::testing::real_oracle("tokenizer.json");
    const json d = json::parse(lth::read_file(oracle));
    const json& first = d["singles"][0];
    auto r = lth::testing::run_lth("tokenize --model " + lth::testing::quote(dir) + " --text " +
                                   lth::testing::quote(from_hex(first["text_utf8_hex"].get<std::string>())));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(json::parse(r.out)["input_ids"] == first["fast"]["encode"]["input_ids"]);
  }
}
