// GLUE readers on the real shared files (row counts = `wc -l` minus headers, plus one for files
// without a final newline) and on small hand-made files for the layouts and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>

#include "core/error.h"
#include "core/file.h"
#include "tasks/glue/glue.h"
#include "tests/testing.h"

using lth::testing::error_of;

using namespace lth::tasks::glue;
using lth::testing::shared_dir;
using lth::testing::TempDir;

namespace {

std::string glue_root() { return shared_dir() + "/data/glue"; }

std::map<std::string, int> label_counts(const std::vector<Example>& examples) {
  std::map<std::string, int> c;
  for (const auto& e : examples) ++c[e.label.value_or("<none>")];
  return c;
}

}  // namespace

TEST_SUITE("tasks.glue") {
  TEST_CASE("registry") {
    CHECK(all_tasks().size() == 10);
    CHECK(&find_task("glue/sst2") == &find_task("sst2"));
    CHECK(find_task("glue/cola").main_metric == "mcc");
    CHECK(find_task("glue/stsb").main_metric == "pearson");
    CHECK(find_task("glue/stsb").is_regression);
    CHECK(find_task("glue/stsb").num_outputs() == 1);
    CHECK(find_task("glue/mrpc").main_metric == "accuracy");
    CHECK(find_task("glue/mrpc").metrics == std::vector<std::string>{"accuracy", "f1"});
    CHECK(find_task("glue/qqp").main_metric == "accuracy");
    CHECK(find_task("glue/mnli").labels == std::vector<std::string>{"contradiction", "entailment", "neutral"});
    CHECK(find_task("glue/rte").labels == std::vector<std::string>{"entailment", "not_entailment"});
    CHECK(find_task("glue/wnli").labels == std::vector<std::string>{"0", "1"});
    CHECK(find_task("glue/ax").split("test").file == "diagnostic.tsv");
    CHECK(find_task("glue/mnli").split("dev_mismatched").file == "dev_mismatched.tsv");
    CHECK(submission_file_name(find_task("glue/mnli"), "test_mismatched") == "MNLI-mm.tsv");
    CHECK(submission_file_name(find_task("glue/ax"), "test") == "AX.tsv");
    CHECK(error_of([] { find_task("glue/nope"); }).find("glue/qnli") != std::string::npos);
    CHECK(error_of([] { find_task("glue/rte").split("dev_matched"); }).find("train, dev, test") != std::string::npos);
  }

  TEST_CASE("CoLA: no header, 4 columns, dev without a final newline") {
    const TaskSpec& t = find_task("glue/cola");
    const auto train = read_split(t, "train", glue_root());
    CHECK(train.size() == 8551);
    CHECK(label_counts(train) == std::map<std::string, int>{{"0", 2528}, {"1", 6023}});
    const auto dev = read_split(t, "dev", glue_root());
    REQUIRE(dev.size() == 1043);
    CHECK(dev[0].guid == "dev-0");
    CHECK(dev[0].text_a == "The sailors rode the breeze clear of the rocks.");
    CHECK_FALSE(dev[0].text_b.has_value());
    CHECK(dev[0].label_id == 1);
    CHECK(dev.back().text_a == "John talked to Bill about himself.");
    CHECK(dev.back().line == 1043);
    CHECK(label_counts(dev) == std::map<std::string, int>{{"0", 322}, {"1", 721}});
    const auto test = read_split(t, "test", glue_root());
    CHECK(test.size() == 1063);
    CHECK(test[0].guid == "0");
    CHECK(test[0].text_a == "Bill whistled past the house.");
    CHECK_FALSE(test[0].label.has_value());
  }

  TEST_CASE("SST-2") {
    const TaskSpec& t = find_task("glue/sst2");
    const auto train = read_split(t, "train", glue_root());
    CHECK(train.size() == 67349);
    CHECK(label_counts(train) == std::map<std::string, int>{{"0", 29780}, {"1", 37569}});
    const auto dev = read_split(t, "dev", glue_root());
    CHECK(dev.size() == 872);
    CHECK(dev[0].text_a == "it 's a charming and often affecting journey . ");  // trailing space kept
    CHECK(label_counts(dev) == std::map<std::string, int>{{"0", 428}, {"1", 444}});
    CHECK(read_split(t, "test", glue_root()).size() == 1821);
  }

  TEST_CASE("MRPC: BOM before the header, literal quotes") {
    const TaskSpec& t = find_task("glue/mrpc");
    const auto train = read_split(t, "train", glue_root());
    REQUIRE(train.size() == 3668);
    CHECK(label_counts(train) == std::map<std::string, int>{{"0", 1194}, {"1", 2474}});
    CHECK(train[0].text_a ==
          "Amrozi accused his brother, whom he called \"the witness\", of deliberately distorting his evidence.");
    CHECK(train[0].text_b.value().rfind("Referring to him as only \"the witness\"", 0) == 0);
    const auto dev = read_split(t, "dev", glue_root());
    CHECK(dev.size() == 408);
    CHECK(label_counts(dev) == std::map<std::string, int>{{"0", 129}, {"1", 279}});
    // The quote in dev row 0 opens a field that never closes: with quoting it would swallow rows.
    CHECK(dev[0].text_b.value() == "\"The foodservice pie business does not fit our long-term growth strategy.");
    const auto test = read_split(t, "test", glue_root());
    CHECK(test.size() == 1725);
    CHECK(test.back().guid == "1724");
  }

  TEST_CASE("STS-B float scores") {
    const TaskSpec& t = find_task("glue/stsb");
    const auto dev = read_split(t, "dev", glue_root());
    REQUIRE(dev.size() == 1500);
    CHECK(dev[0].score == 5.0);
    CHECK(dev[1].score == doctest::Approx(4.75));
    CHECK(dev[0].label_id == -1);
    CHECK(dev[0].text_a == "A man with a hard hat is dancing.");
    CHECK(dev[0].text_b.value() == "A man wearing a hard hat is dancing.");
    double sum = 0;
    for (const auto& e : dev) sum += e.score;
    CHECK(sum / 1500 == doctest::Approx(2.363908).epsilon(1e-6));
    CHECK(read_split(t, "train", glue_root()).size() == 5749);
    const auto test = read_split(t, "test", glue_root());
    CHECK(test.size() == 1379);
    CHECK(std::isnan(test[0].score));
  }

  TEST_CASE("RTE, WNLI, QNLI, AX") {
    const auto rte_train = read_split(find_task("glue/rte"), "train", glue_root());
    CHECK(rte_train.size() == 2490);
    CHECK(label_counts(rte_train) == std::map<std::string, int>{{"entailment", 1249}, {"not_entailment", 1241}});
    const auto rte_dev = read_split(find_task("glue/rte"), "dev", glue_root());
    CHECK(label_counts(rte_dev) == std::map<std::string, int>{{"entailment", 146}, {"not_entailment", 131}});
    CHECK(rte_dev[0].label_id == 1);
    CHECK(read_split(find_task("glue/rte"), "test", glue_root()).size() == 3000);
    const auto wnli = read_split(find_task("glue/wnli"), "train", glue_root());
    CHECK(label_counts(wnli) == std::map<std::string, int>{{"0", 323}, {"1", 312}});
    CHECK(label_counts(read_split(find_task("glue/wnli"), "dev", glue_root())) ==
          std::map<std::string, int>{{"0", 40}, {"1", 31}});
    CHECK(read_split(find_task("glue/wnli"), "test", glue_root()).size() == 146);
    const auto qnli = read_split(find_task("glue/qnli"), "dev", glue_root());
    CHECK(label_counts(qnli) == std::map<std::string, int>{{"entailment", 2702}, {"not_entailment", 2761}});
    CHECK(qnli[0].text_a == "What came into force after the new constitution was herald?");
    const auto ax = read_split(find_task("glue/ax"), "test", glue_root());
    REQUIRE(ax.size() == 1104);
    CHECK(ax[0].text_a == "The cat sat on the mat.");
    CHECK(ax[0].text_b.value() == "The cat did not sit on the mat.");
    CHECK(ax.back().guid == "1103");
  }

  TEST_CASE("QQP and MNLI layouts on hand-made files") {
    TempDir dir("glue-layouts");
    lth::make_dirs(dir.file("QQP"));
    lth::make_dirs(dir.file("MNLI"));
    lth::write_file_atomic(dir.file("QQP/dev.tsv"),
                           "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                           "7\t15\t16\tHow do I \"learn\"?\tWhat is learning?\t0\n"
                           "8\t17\t18\tA?\tB?\t1\n");
    lth::write_file_atomic(dir.file("QQP/test.tsv"), "id\tquestion1\tquestion2\n0\tQ1?\tQ2?\n");
    const auto qqp = read_split(find_task("glue/qqp"), "dev", dir.path());
    REQUIRE(qqp.size() == 2);
    CHECK(qqp[0].guid == "7");
    CHECK(qqp[0].text_a == "How do I \"learn\"?");
    CHECK(qqp[1].label_id == 1);
    const auto qqp_test = read_split(find_task("glue/qqp"), "test", dir.path());
    CHECK(qqp_test[0].text_b.value() == "Q2?");

    const std::string parses = "\t(a)\t(b)\t(ROOT a)\t(ROOT b)\t";
    lth::write_file_atomic(dir.file("MNLI/dev_matched.tsv"),
                           "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                           "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\t"
                           "label4\tlabel5\tgold_label\r\n"
                           "0\t31193\t31193n\tgovernment" + parses + "Premise.\tHypothesis.\tneutral\tentailment\t"
                           "neutral\tneutral\tneutral\tneutral\r\n");
    lth::write_file_atomic(dir.file("MNLI/test_mismatched.tsv"),
                           "index\tpromptID\tpairID\tgenre\ts1bp\ts2bp\ts1p\ts2p\tsentence1\tsentence2\n"
                           "0\t1\t1n\tfiction" + parses + "P\tH\n");
    const auto mnli = read_split(find_task("glue/mnli"), "dev_matched", dir.path());
    REQUIRE(mnli.size() == 1);
    CHECK(mnli[0].text_a == "Premise.");
    CHECK(mnli[0].text_b.value() == "Hypothesis.");
    CHECK(mnli[0].label.value() == "neutral");  // gold_label, the last column (CRLF stripped)
    CHECK(mnli[0].label_id == 2);
    const auto mm = read_split(find_task("glue/mnli"), "test_mismatched", dir.path());
    CHECK(mm[0].text_a == "P");
    CHECK_FALSE(mm[0].label.has_value());
  }

  TEST_CASE("malformed files are rejected with FILE:LINE") {
    TempDir dir("glue-bad");
    lth::make_dirs(dir.file("RTE"));
    const TaskSpec& rte = find_task("glue/rte");
    const std::string path = dir.file("RTE/dev.tsv");
    const std::string header = "index\tsentence1\tsentence2\tlabel\n";

    CHECK(error_of([&] { read_split(rte, "dev", dir.path()); }).find(path) != std::string::npos);

    lth::write_file_atomic(path, header + "0\ta\tb\tentailment\n1\ta\tb\n");
    CHECK(error_of([&] { read_split(rte, "dev", dir.path()); }) == path + ":3: expected 4 columns, found 3");
    ReadOptions skip;
    skip.skip_malformed_rows = true;
    CHECK(read_split(rte, "dev", dir.path(), skip).size() == 1);

    lth::write_file_atomic(path, header + "0\ta\tb\tmaybe\n");
    const std::string unknown = error_of([&] { read_split(rte, "dev", dir.path()); });
    CHECK(unknown.find(path + ":2: unknown label 'maybe'") == 0);
    CHECK(unknown.find("entailment, not_entailment") != std::string::npos);

    lth::write_file_atomic(path, "index\tsentence1\tlabel\n0\ta\tentailment\n");
    CHECK(error_of([&] { read_split(rte, "dev", dir.path()); }) == path + ":1: expected 4 columns in the header, found 3");

    lth::make_dirs(dir.file("STS-B"));
    lth::write_file_atomic(dir.file("STS-B/dev.tsv"),
                           "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                           "0\tg\tf\ty\t0\tn\tn\ta\tb\tfive\n");
    CHECK(error_of([&] { read_split(find_task("glue/stsb"), "dev", dir.path()); }) ==
          dir.file("STS-B/dev.tsv") + ":2: score 'five' is not a number");

    // An empty line inside the data is a 1-column row.
    lth::make_dirs(dir.file("CoLA"));
    lth::write_file_atomic(dir.file("CoLA/dev.tsv"), "gj04\t1\t\tA.\n\ngj04\t0\t*\tB.\n");
    CHECK(error_of([&] { read_split(find_task("glue/cola"), "dev", dir.path()); }) ==
          dir.file("CoLA/dev.tsv") + ":2: expected 4 columns, found 1");
  }

  TEST_CASE("submission files round-trip") {
    TempDir dir("glue-submit");
    const TaskSpec& rte = find_task("glue/rte");
    const auto test = read_split(rte, "test", glue_root());
    std::vector<int> ids(test.size());
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(i % 2);
    const std::string path = dir.file(submission_file_name(rte, "test"));
    write_submission(path, rte, test, ids);
    const std::string text = lth::read_file(path);
    CHECK(text.rfind("index\tprediction\n0\tentailment\n1\tnot_entailment\n", 0) == 0);
    const auto rows = read_submission(path, rte);
    REQUIRE(rows.size() == 3000);
    CHECK(rows[2999].index == "2999");
    CHECK(rows[2999].label_id == 1);

    const TaskSpec& stsb = find_task("glue/stsb");
    const auto sts_test = read_split(stsb, "test", glue_root());
    std::vector<double> scores(sts_test.size(), 0.0);
    scores[0] = 3.25;
    scores[1] = 0.1;
    write_submission(dir.file("STS-B.tsv"), stsb, sts_test, scores);
    const auto sts_rows = read_submission(dir.file("STS-B.tsv"), stsb);
    REQUIRE(sts_rows.size() == 1379);
    CHECK(sts_rows[0].prediction == "3.25");
    CHECK(sts_rows[1].score == 0.1);

    CHECK_THROWS_AS(write_submission(path, rte, test, std::vector<int>(test.size(), 2)), lth::ConfigError);
    CHECK_THROWS_AS(write_submission(path, rte, test, std::vector<int>(3, 0)), lth::ConfigError);
    CHECK_THROWS_AS(write_submission(path, rte, test, scores), lth::ConfigError);
    CHECK(read_submission(path, rte).size() == 3000);  // failed writes left the file alone

    lth::write_file_atomic(dir.file("bad.tsv"), "index\tprediction\n0\tentailed\n");
    CHECK(error_of([&] { read_submission(dir.file("bad.tsv"), rte); }).find(dir.file("bad.tsv") + ":2: unknown label") == 0);
    lth::write_file_atomic(dir.file("bad.tsv"), "id\tlabel\n");
    CHECK(error_of([&] { read_submission(dir.file("bad.tsv"), rte); }).find(":1: expected the header") != std::string::npos);
  }
}
