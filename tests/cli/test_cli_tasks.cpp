// A few training steps of every task family through the CLI on the fixture model, and `lth eval`
// whose printed metrics must equal metrics recomputed here from its --predictions file with code
// that does not run the model (the gold labels read directly, the torch-free official scorers).
#include <cmath>
#include <fstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "tasks/ner/conlleval.h"
#include "tasks/squad/evaluate.h"
#include "tasks/squad/squad.h"
#include "tests/cli/cli_testing.h"

using nlohmann::json;
namespace lt = lth::testing;
using lt::quote;

namespace {

// Checks the run directory a finished `lth finetune`/`pretrain` leaves and returns its result.json.
json check_run_dir(const std::string& out, const std::string& main_metric) {
  CHECK(lth::path_exists(out + "/config.json"));
  CHECK(lth::path_exists(out + "/model/config.json"));
  CHECK(lth::path_exists(out + "/model/model.safetensors"));
  CHECK(lth::path_exists(out + "/model/vocab.txt"));
  CHECK_FALSE(lth::path_exists(out + "/checkpoint"));
  REQUIRE(lth::path_exists(out + "/metrics.jsonl"));
  bool saw_dev = false;
  for (const auto& line : lt::file_lines(out + "/metrics.jsonl")) {
    const json m = json::parse(line);
    CHECK(m.contains("step"));
    if (m.value("split", "") == "dev") {
      saw_dev = true;
      CHECK(m.contains(main_metric));
    }
  }
  CHECK(saw_dev);
  REQUIRE(lth::path_exists(out + "/result.json"));
  const json result = lth::read_json_file(out + "/result.json");
  CHECK(result["final"].contains(main_metric));
  return result;
}

// The one JSON line `lth eval` prints.
json eval_line(const lt::RunResult& r) {
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto nl = r.out.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(r.out.find('\n', nl + 1) == std::string::npos);  // exactly one line
  return json::parse(r.out.substr(0, nl));
}

std::string finetune(const std::string& task, const std::string& data_flags, const std::string& out,
                     const std::string& extra = "") {
  return "finetune " + lt::quick_flags() + " --task " + task + " " + data_flags + " --out " + quote(out) +
         " --batch-size 8 --lr 1e-3 --no-group-by-length --precision fp32 " + extra;
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("glue/sst2: finetune, then eval whose accuracy matches its predictions file") {
    lt::TempDir tmp("cli-sst2");
    const std::string data = lt::data_dir("glue/SST-2");
    const std::string out = tmp.file("run");
    auto r = lt::run_lth(finetune("glue/sst2", "--data " + quote(data), out, "--max-train-examples 64 --steps 4"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json result = check_run_dir(out, "accuracy");
    CHECK(result["steps"] == 4);
    CHECK(json::parse(r.out)["accuracy"] == result["final"]["accuracy"]);

    const std::string preds = tmp.file("sst2.tsv");
    const json m = eval_line(lt::run_lth("eval --model " + quote(out + "/model") + " --task glue/sst2 --data " +
                                         quote(data) + " --max-length 64 --threads 1 --precision fp32 --predictions " + quote(preds)));
    CHECK(m["task"] == "glue/sst2");
    CHECK(m["split"] == "dev");
    // Gold labels straight from dev.tsv (last column), predictions from the submission file.
    const auto gold = lt::file_lines(data + "/dev.tsv");
    const auto predicted = lt::file_lines(preds);
    REQUIRE(predicted.size() == gold.size());
    CHECK(predicted[0] == "index\tprediction");
    int correct = 0;
    for (std::size_t i = 1; i < gold.size(); ++i) {
      const auto g = lt::split(gold[i], '\t');
      const auto p = lt::split(predicted[i], '\t');
      REQUIRE(p.size() == 2);
      correct += (p[1] == g.back());
    }
    const auto n = static_cast<double>(gold.size() - 1);
    CHECK(m["examples"] == gold.size() - 1);
    CHECK(m["accuracy"].get<double>() == doctest::Approx(correct / n).epsilon(1e-12));
  }

  TEST_CASE("glue/stsb: regression finetune and eval") {
    lt::TempDir tmp("cli-stsb");
    const std::string data = lt::data_dir("glue/STS-B");
    const std::string out = tmp.file("run");
    auto r = lt::run_lth(finetune("glue/stsb", "--data " + quote(data), out, "--max-train-examples 64 --steps 4"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    check_run_dir(out, "pearson");
    const json cfg = lth::read_json_file(out + "/model/config.json");
    CHECK(cfg["id2label"].size() == 1);  // one regression output

    const std::string preds = tmp.file("stsb.tsv");
    const json m = eval_line(lt::run_lth("eval --model " + quote(out + "/model") + " --task glue/stsb --data " +
                                         quote(data) + " --max-length 64 --threads 1 --precision fp32 --predictions " + quote(preds)));
    // Pearson recomputed from the written scores (fmt's shortest round-trip form, so exact doubles),
    // centred in two passes so that nearly constant scores of a barely trained model lose nothing.
    const auto gold = lt::file_lines(data + "/dev.tsv");
    const auto predicted = lt::file_lines(preds);
    REQUIRE(predicted.size() == gold.size());
    std::vector<double> xs, ys;
    for (std::size_t i = 1; i < gold.size(); ++i) {
      ys.push_back(std::stod(lt::split(gold[i], '\t').back()));
      xs.push_back(std::stod(lt::split(predicted[i], '\t')[1]));
    }
    const auto n = static_cast<double>(xs.size());
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) mx += xs[i] / n, my += ys[i] / n;
    double sxx = 0, syy = 0, sxy = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      sxx += (xs[i] - mx) * (xs[i] - mx), syy += (ys[i] - my) * (ys[i] - my), sxy += (xs[i] - mx) * (ys[i] - my);
    }
    REQUIRE(sxx > 0);
    const double pearson = sxy / std::sqrt(sxx * syy);
    CHECK(std::isfinite(m["pearson"].get<double>()));
    CHECK(m["pearson"].get<double>() == doctest::Approx(pearson).epsilon(1e-9));
  }

  TEST_CASE("squad/v1.1: train on one dev part, evaluate on the other, EM/F1 match predictions.json") {
    lt::TempDir tmp("cli-squad");
    const std::string part_a = lt::data_dir("squad/v1.1/dev-v1.1.part-a.json");
    // The fixture's vocabulary spells most words letter by letter, so a paragraph is hundreds of
    // tokens and ~30 windows of 64: evaluate on the first paragraphs of part b's first articles.
    const std::string part_b = tmp.file("part-b-head.json");
    {
      json full = lth::read_json_file(lt::data_dir("squad/v1.1/dev-v1.1.part-b.json"));
      json head = {{"version", full["version"]}, {"data", json::array()}};
      for (std::size_t a = 0; a < 2; ++a) {
        json article = full["data"][a];
        article["paragraphs"] = json(std::vector<json>(article["paragraphs"].begin(), article["paragraphs"].begin() + 2));
        head["data"].push_back(article);
      }
      lth::write_file_atomic(part_b, head.dump());
    }
    const std::string out = tmp.file("run");
    auto r = lt::run_lth(finetune("squad/v1.1", "--train " + quote(part_a) + " --dev " + quote(part_b), out,
                                  "--max-train-examples 16 --steps 3"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    check_run_dir(out, "f1");
    const json cfg = lth::read_json_file(out + "/model/config.json");
    CHECK(cfg["architectures"][0] == "BertForQuestionAnswering");

    // --data may name the evaluation file itself.
    const std::string preds = tmp.file("predictions.json");
    const json m = eval_line(lt::run_lth("eval --model " + quote(out + "/model") + " --task squad/v1.1 --data " +
                                         quote(part_b) + " --max-length 64 --threads 1 --precision fp32 --predictions " + quote(preds)));
    CHECK(m["task"] == "squad/v1.1");
    const auto dataset = lth::tasks::squad::read_dataset(part_b);
    const auto predictions = lth::tasks::squad::read_predictions(preds);
    CHECK(predictions.size() == dataset.num_questions());
    CHECK(m["examples"] == dataset.num_questions());
    const auto scored = lth::tasks::squad::evaluate(dataset, predictions);
    CHECK(scored.missing.empty());
    CHECK(m["exact_match"].get<double>() == doctest::Approx(scored.exact_match).epsilon(1e-12));
    CHECK(m["f1"].get<double>() == doctest::Approx(scored.f1).epsilon(1e-12));
    // The same metrics as the evaluation at the end of training (same weights, same dev file).
    const json result = lth::read_json_file(out + "/result.json");
    CHECK(result["final"]["f1"].get<double>() == doctest::Approx(scored.f1).epsilon(1e-6));
    // Every answer is a piece of its context.
    std::size_t checked = 0;
    for (const auto& a : dataset.articles)
      for (const auto& p : a.paragraphs)
        for (const auto& q : p.qas) {
          const auto& text = predictions.at(q.id);
          if (p.context.find(text) == std::string::npos) FAIL_CHECK(q.id << ": '" << text << "' is not in its context");
          ++checked;
        }
    CHECK(checked == dataset.num_questions());
  }

  TEST_CASE("ner/conll2003: finetune, eval whose entity F1 matches its predictions file") {
    lt::TempDir tmp("cli-ner");
    const std::string data = lt::data_dir("conll2003");
    const std::string out = tmp.file("run");
    auto r = lt::run_lth(finetune("ner/conll2003", "--data " + quote(data), out, "--max-train-examples 64 --steps 4"));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    check_run_dir(out, "f1");
    const json cfg = lth::read_json_file(out + "/model/config.json");
    CHECK(cfg["architectures"][0] == "BertForTokenClassification");
    CHECK(cfg["id2label"]["0"] == "O");
    CHECK(cfg["id2label"].size() == 9);  // O + B-/I- of LOC, MISC, ORG, PER (IOB2)

    const std::string preds = tmp.file("ner.txt");
    const json m = eval_line(lt::run_lth("eval --model " + quote(out + "/model") + " --task ner/conll2003 --data " +
                                         quote(data) + " --max-length 64 --threads 1 --precision fp32 --predictions " + quote(preds)));
    for (const char* k : {"precision", "recall", "f1", "accuracy"}) CHECK(m.contains(k));
    lth::tasks::ner::ConllEvaluator ev;
    std::size_t sentences = 0;
    bool open = false;
    for (const auto& line : lt::file_lines(preds)) {
      if (line.empty()) {
        ev.boundary();
        sentences += open;
        open = false;
        continue;
      }
      const auto f = lt::split(line, '\t');
      if (f.size() != 3) {
        FAIL_CHECK("not word<TAB>gold<TAB>predicted: " << line);
        continue;
      }
      ev.add(f[1], f[2]);
      open = true;
    }
    const auto res = ev.result();
    CHECK(m["examples"] == sentences);
    CHECK(m["tokens"] == res.tokens);
    CHECK(m["f1"].get<double>() == doctest::Approx(res.overall.f1()).epsilon(1e-12));
    CHECK(m["precision"].get<double>() == doctest::Approx(res.overall.precision()).epsilon(1e-12));
    CHECK(m["recall"].get<double>() == doctest::Approx(res.overall.recall()).epsilon(1e-12));
    CHECK(m["accuracy"].get<double>() == doctest::Approx(res.accuracy()).epsilon(1e-12));
  }

  TEST_CASE("mlm: lth pretrain continues the fixture model on a small corpus") {
    lt::TempDir tmp("cli-mlm");
    {
      std::ofstream text(tmp.file("corpus.txt"));
      for (int i = 0; i < 60; ++i) {
        text << "the quick brown fox jumps over the lazy dog number " << i << " and then it runs away again .\n";
      }
    }
    const std::string out = tmp.file("run");
    auto r = lt::run_lth("pretrain --model " + quote(lt::fixture_model()) + " --text " + quote(tmp.file("corpus.txt")) +
                         " --out " + quote(out) + " --threads 1 --max-length 32 --batch-size 8 --steps 4 --precision fp32");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json result = check_run_dir(out, "accuracy");
    CHECK(result["final"]["perplexity"].get<double>() > 0);
    const json cfg = lth::read_json_file(out + "/model/config.json");
    CHECK(cfg["architectures"][0] == "BertForMaskedLM");

    // Repeating the command is free: result.json exists, nothing is trained again.
    r = lt::run_lth("pretrain --model " + quote(lt::fixture_model()) + " --text " + quote(tmp.file("corpus.txt")) +
                    " --out " + quote(out) + " --threads 1 --max-length 32 --batch-size 8 --steps 4 --precision fp32");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.err.find("skipped") != std::string::npos);
  }
}
