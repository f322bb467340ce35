// SQuAD: reader validation, the official normalisation/EM/F1 (hand-computed), the real dev set with
// gold answers as predictions, predictions.json I/O and span decoding.
#include <doctest/doctest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tasks/squad/decode.h"
#include "tasks/squad/evaluate.h"
#include "tasks/squad/squad.h"
#include "tests/testing.h"

using lth::testing::error_of;

using namespace lth::tasks::squad;
using nlohmann::json;

namespace {

const char* kV1 = R"({"version": "1.1", "data": [{"title": "T", "paragraphs": [{
  "context": "The cat sat on the mat in Paris.",
  "qas": [
    {"id": "q1", "question": "Who sat?", "answers": [{"text": "The cat", "answer_start": 0},
                                                      {"text": "cat", "answer_start": 4}]},
    {"id": "q2", "question": "Where?", "answers": [{"text": "on the mat", "answer_start": 12}]},
    {"id": "q3", "question": "City?", "answers": [{"text": "Paris", "answer_start": 26}]}]}]}]})";

const char* kV2 = R"({"version": "v2.0", "data": [{"title": "T", "paragraphs": [{
  "context": "Paris is in France.",
  "qas": [
    {"id": "a", "question": "Where is Paris?", "is_impossible": false,
     "answers": [{"text": "France", "answer_start": 12}]},
    {"id": "b", "question": "Where is Rome?", "is_impossible": true, "answers": [],
     "plausible_answers": [{"text": "France", "answer_start": 12}]}]}]}]})";

std::string dev_part(const char* part) { return lth::testing::shared_dir() + "/data/squad/v1.1/dev-v1.1.part-" + part + ".json"; }

}  // namespace

TEST_SUITE("tasks.squad") {
  TEST_CASE("normalize_answer follows the official script") {
    CHECK(normalize_answer("The Quick, Brown fox!") == "quick brown fox");
    CHECK(normalize_answer("an apple a day") == "apple day");
    CHECK(normalize_answer("theater Anthem") == "theater anthem");  // articles only as whole words
    CHECK(normalize_answer("A.B.C.") == "abc");                    // punctuation removed before articles
    CHECK(normalize_answer("the-end") == "theend");
    CHECK(normalize_answer("  a  \t\n the ") == "");
    CHECK(normalize_answer("$1,000 (approx.)") == "1000 approx");
    CHECK(normalize_answer("rock_n_roll") == "rocknroll");  // '_' is in string.punctuation
    // Unicode: lower-casing beyond ASCII, non-ASCII punctuation kept, Unicode whitespace.
    CHECK(normalize_answer("\xC3\x85NGSTR\xC3\x96M\xC2\xA0the\xE3\x80\x80\xC3\x9Cnited") ==
          "\xC3\xA5ngstr\xC3\xB6m \xC3\xBCnited");
    // Curly quotes are not word characters: "the" between them is a whole word.
    CHECK(normalize_answer("\xE2\x80\x9CThe\xE2\x80\x9D answer") == "\xE2\x80\x9C \xE2\x80\x9D answer");
    // ...but an accented letter is, so "a" after it is not a word of its own.
    CHECK(normalize_answer("caf\xC3\xA9" "a a") == "caf\xC3\xA9" "a");
    // Greek final sigma, as Python's str.lower: ΟΔΟΣ -> οδος with ς.
    CHECK(normalize_answer("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3") == "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82");
    // U+0130 lowers to "i" + U+0307.
    CHECK(normalize_answer("\xC4\xB0") == "i\xCC\x87");
  }

  TEST_CASE("exact match and token F1") {
    CHECK(exact_match("The cat.", "cat"));
    CHECK_FALSE(exact_match("cats", "cat"));
    // pred [cat sat], gold [cat sat down]: P=1 R=2/3 -> 0.8
    CHECK(f1_score("the cat sat", "a cat sat down", Version::kV1_1) == doctest::Approx(0.8));
    // multiset intersection: pred [the->removed] [cat cat], gold [cat]: same=1, P=1/2 R=1 -> 2/3
    CHECK(f1_score("cat cat", "cat", Version::kV1_1) == doctest::Approx(2.0 / 3.0));
    CHECK(f1_score("dog", "cat", Version::kV1_1) == 0.0);
    // both empty: 0 in v1.1, 1 in v2.0; one empty: 0
    CHECK(f1_score("", "", Version::kV1_1) == 0.0);
    CHECK(f1_score("the", "", Version::kV2_0) == 1.0);
    CHECK(f1_score("cat", "", Version::kV2_0) == 0.0);
    CHECK(f1_score("", "cat", Version::kV2_0) == 0.0);
  }

  TEST_CASE("evaluate v1.1: max over golds, missing predictions count as 0") {
    const Dataset ds = parse_dataset(json::parse(kV1), "mem.json");
    CHECK(ds.version == Version::kV1_1);
    CHECK(ds.num_questions() == 3);
    CHECK(ds.misaligned_answers == 0);
    Predictions p{{"q1", "a cat!"}, {"q2", "the mat in Paris"}, {"unknown", "x"}};
    const EvalResult r = evaluate(ds, p);
    // q1 EM 1 F1 1; q2 [mat in paris] vs [on mat]: P=1/3 R=1/2 -> F1 0.4; q3 missing.
    CHECK(r.total == 3);
    CHECK(r.exact_match == doctest::Approx(100.0 / 3));
    CHECK(r.f1 == doctest::Approx(140.0 / 3));
    CHECK(r.missing == std::vector<std::string>{"q3"});
    const auto m = r.to_metrics(Version::kV1_1);
    CHECK(m.size() == 2);
    CHECK(m.at("f1") == doctest::Approx(140.0 / 3));
  }

  TEST_CASE("evaluate v2.0: empty prediction matches an impossible question") {
    const Dataset ds = parse_dataset(json::parse(kV2), "mem.json");
    CHECK(ds.version == Version::kV2_0);
    const Question& b = ds.articles[0].paragraphs[0].qas[1];
    CHECK(b.is_impossible);
    CHECK(b.plausible_answers.size() == 1);
    CHECK(gold_answers(b, Version::kV2_0) == std::vector<std::string>{""});
    EvalResult r = evaluate(ds, {{"a", "in France"}, {"b", ""}});
    CHECK(r.exact_match == doctest::Approx(50.0));  // "in france" != "france"
    CHECK(r.f1 == doctest::Approx(100.0 * (2.0 / 3.0 + 1.0) / 2));
    CHECK(r.has_ans_total == 1);
    CHECK(r.no_ans_total == 1);
    CHECK(r.no_ans_exact == 100.0);
    CHECK(r.has_ans_f1 == doctest::Approx(200.0 / 3));
    r = evaluate(ds, {{"a", ""}, {"b", "France"}});
    CHECK(r.exact_match == 0.0);
    CHECK(r.f1 == 0.0);
    CHECK(r.to_metrics(Version::kV2_0).count("NoAns_f1") == 1);
  }

  TEST_CASE("answer offsets are code points; byte_start maps them into the UTF-8 context") {
    const json j = json::parse(R"({"data": [{"paragraphs": [{"context": "Caf\u00e9 au lait costs \u20ac3.",
      "qas": [{"id": "x", "question": "?", "answers": [{"text": "\u20ac3", "answer_start": 19},
                                                       {"text": "lait", "answer_start": 3}]}]}]}]})");
    const Dataset ds = parse_dataset(j, "mem.json");
    const auto& answers = ds.articles[0].paragraphs[0].qas[0].answers;
    CHECK(answers[0].byte_start == 20);
    CHECK(answers[1].byte_start == -1);  // "lait" is not at code point 3
    CHECK(ds.misaligned_answers == 1);
  }

  TEST_CASE("malformed SQuAD JSON names the file and the path") {
    auto err = [](const char* text) { return error_of([&] { parse_dataset(json::parse(text), "bad.json"); }); };
    CHECK(err(R"({"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "1", "question": "q",
           "answers": [{"text": "a", "answer_start": "0"}]}]}]}]})") ==
          "bad.json: data[0].paragraphs[0].qas[0].answers[0].answer_start: expected an integer");
    CHECK(err(R"({"data": [{"paragraphs": [{"qas": []}]}]})") == "bad.json: data[0].paragraphs[0]: missing key 'context'");
    CHECK(err(R"({"version": "1.1"})") == "bad.json: (root): missing key 'data'");
    CHECK(err(R"({"data": [{"paragraphs": [{"context": "abc", "qas": [
           {"id": "1", "question": "q", "answers": [{"text": "a", "answer_start": 0}]},
           {"id": "1", "question": "q", "answers": [{"text": "a", "answer_start": 0}]}]}]}]})") ==
          "bad.json: data[0].paragraphs[0].qas[1].id: duplicate question id '1'");
    CHECK(err(R"({"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "1", "question": "q",
           "answers": [{"text": "a", "answer_start": 9}]}]}]}]})")
              .find("answer_start: 9 is outside the context (3 characters)") != std::string::npos);
    CHECK(err(R"({"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "1", "question": "q",
           "answers": []}]}]}]})") == "bad.json: data[0].paragraphs[0].qas[0].answers: an answerable question has no answers");
    lth::testing::TempDir dir("squad-bad");
    lth::write_file_atomic(dir.file("broken.json"), "{\"data\": [");
    CHECK(error_of([&] { read_dataset(dir.file("broken.json")); }).find(dir.file("broken.json")) == 0);
    CHECK(error_of([&] { read_dataset(dir.file("missing.json")); }).find(dir.file("missing.json")) != std::string::npos);
  }

  TEST_CASE("the real v1.1 dev set with gold answers as predictions scores 100/100") {
    Dataset a = read_dataset(dev_part("a"));
    Dataset b = read_dataset(dev_part("b"));
    CHECK(a.version_string == "1.1");
    CHECK(a.num_questions() == 4961);
    CHECK(b.num_questions() == 5609);
    CHECK(a.articles.size() == 24);
    a.append(std::move(b));
    CHECK(a.articles.size() == 48);
    CHECK(a.num_questions() == 10570);
    CHECK(a.misaligned_answers == 0);
    std::size_t answers = 0, paragraphs = 0;
    Predictions gold, last_gold;
    for (const auto& art : a.articles) {
      paragraphs += art.paragraphs.size();
      for (const auto& p : art.paragraphs)
        for (const auto& q : p.qas) {
          answers += q.answers.size();
          gold[q.id] = q.answers.front().text;
          last_gold[q.id] = q.answers.back().text;
        }
    }
    CHECK(paragraphs == 2067);
    CHECK(answers == 34726);
    lth::testing::TempDir dir("squad-real");
    write_predictions(dir.file("predictions.json"), gold);
    const Predictions back = read_predictions(dir.file("predictions.json"));
    CHECK(back == gold);
    EvalResult r = evaluate(a, back);
    CHECK(r.total == 10570);
    CHECK(r.exact_match == doctest::Approx(100.0));
    CHECK(r.f1 == doctest::Approx(100.0));
    CHECK(r.missing.empty());
    r = evaluate(a, last_gold);
    CHECK(r.exact_match == doctest::Approx(100.0));
    // Dropping half the predictions halves the score and lists what is missing.
    Predictions half;
    std::size_t i = 0;
    for (const auto& [id, text] : gold)
      if (i++ % 2 == 0) half[id] = text;
    r = evaluate(a, half);
    CHECK(r.missing.size() == 10570 - half.size());
    CHECK(r.exact_match == doctest::Approx(100.0 * static_cast<double>(half.size()) / 10570));
    CHECK_THROWS_AS(a.append(read_dataset(dev_part("a"))), lth::ConfigError);  // ids collide
  }

  TEST_CASE("predictions.json must be an object of strings") {
    lth::testing::TempDir dir("squad-pred");
    lth::write_file_atomic(dir.file("p.json"), R"({"a": "x", "b": 3})");
    CHECK(error_of([&] { read_predictions(dir.file("p.json")); }) == dir.file("p.json") + ": prediction for 'b' is not a string");
    lth::write_file_atomic(dir.file("p.json"), "[]");
    CHECK_THROWS_AS(read_predictions(dir.file("p.json")), lth::IoError);
  }
}

TEST_SUITE("tasks.squad.decode") {
  // "Paris is the capital of France." behind a question; -1,-1 marks non-context tokens.
  const std::string kContext = "Paris is the capital of France.";
  FeatureLogits feature() {
    FeatureLogits f;
    f.offsets = {kNotContext, kNotContext, kNotContext, {0, 5},   {6, 8},   {9, 12},
                 {13, 20},    {21, 23},    {24, 30},    {30, 31}, kNotContext};
    f.start_logits.assign(f.offsets.size(), 0.0f);
    f.end_logits.assign(f.offsets.size(), 0.0f);
    f.start_logits[0] = f.end_logits[0] = 1;  // [CLS]
    f.start_logits[1] = 100;                  // a question token: never a start
    f.start_logits[3] = 5;
    f.end_logits[3] = 5;
    f.start_logits[8] = 4;
    f.end_logits[8] = 6;
    return f;
  }

  TEST_CASE("best span, max answer length and n-best order") {
    DecodedAnswer d = decode_answer(kContext, {feature()});
    CHECK(d.text == "Paris is the capital of France");  // (3,8): 5+6
    REQUIRE(d.n_best.size() >= 3);
    CHECK(d.n_best[0].score() == 11.0);
    CHECK(d.n_best[1].text == "Paris");  // 10, generated before "France" (10)
    CHECK(d.n_best[2].text == "France");
    double total = 0;
    for (const auto& c : d.n_best) total += c.probability;
    CHECK(total == doctest::Approx(1.0));
    DecodeOptions o;
    o.max_answer_length = 1;
    CHECK(decode_answer(kContext, {feature()}, o).text == "Paris");
    o.n_best_size = 1;  // only start 1 (question, skipped) is tried
    CHECK(decode_answer(kContext, {feature()}, o).text == "");
  }

  TEST_CASE("v2 null threshold and several features") {
    DecodeOptions o;
    o.version_2_with_negative = true;
    FeatureLogits f = feature();
    DecodedAnswer d = decode_answer(kContext, {f}, o);
    CHECK(d.null_score == 2.0);
    CHECK(d.score_diff == -9.0);
    CHECK(d.text == "Paris is the capital of France");
    f.start_logits[0] = f.end_logits[0] = 8;  // null 16 > 11
    d = decode_answer(kContext, {f}, o);
    CHECK(d.score_diff == 5.0);
    CHECK(d.text == "");
    o.null_score_diff_threshold = 6.0;
    CHECK(decode_answer(kContext, {f}, o).text == "Paris is the capital of France");
    // A second window with a better span and a lower null score: min null over features.
    FeatureLogits g = feature();
    g.start_logits[6] = 20;
    g.end_logits[6] = 20;
    g.start_logits[0] = g.end_logits[0] = 0;
    o.null_score_diff_threshold = 0;
    d = decode_answer(kContext, {f, g}, o);
    CHECK(d.text == "capital");
    CHECK(d.null_score == 0.0);
    CHECK(d.n_best[0].feature == 1);
    // max-context flags: the start token must be in its max-context window
    g.is_max_context.assign(g.offsets.size(), true);
    g.is_max_context[6] = false;
    CHECK(decode_answer(kContext, {g}, DecodeOptions{}).text != "capital");
  }

  TEST_CASE("bad shapes are errors") {
    FeatureLogits f = feature();
    f.end_logits.pop_back();
    CHECK_THROWS_AS(decode_answer(kContext, {f}), lth::ShapeError);
    f = feature();
    f.offsets[3] = {0, 500};
    CHECK_THROWS_AS(decode_answer(kContext, {f}), lth::ShapeError);
    CHECK(top_k_indices({1, 3, 3, 2}, 3) == std::vector<int>{1, 2, 3});
  }
}
