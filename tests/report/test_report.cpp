#include "report/report.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tests/report/fixture.h"
#include "tests/testing.h"

using lth::testing::TempDir;
using Json = nlohmann::json;
namespace rt = lth::report::testing;
namespace fs = std::filesystem;

namespace {

constexpr double kEps = 1e-9;

Json report_json(const std::vector<std::string>& inputs) {
  return Json::parse(lth::report::render_json(lth::report::build_report(inputs)));
}

const Json& row_at(const Json& rows, int level) {
  for (const Json& r : rows) {
    if (r["level"] == level) return r;
  }
  FAIL("no level " << level);
  return rows;
}

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

bool any_warning(const Json& j, const std::string& a, const std::string& b) {
  for (const Json& w : j["warnings"]) {
    const std::string s = w.get<std::string>();
    if (contains(s, a) && contains(s, b)) return true;
  }
  return false;
}

}  // namespace

TEST_SUITE("report") {

TEST_CASE("make_stat: mean and sample standard deviation") {
  auto s = lth::report::make_stat({0.80, 0.82, 0.84});
  CHECK(s.mean == doctest::Approx(0.82).epsilon(kEps));
  REQUIRE(s.std);
  CHECK(*s.std == doctest::Approx(0.02).epsilon(1e-7));  // sqrt((0.0004 + 0 + 0.0004) / (3 - 1))
  auto one = lth::report::make_stat({0.5});
  CHECK(one.mean == 0.5);
  CHECK_FALSE(one.std);
  CHECK(lth::report::make_stat({}).n() == 0);
}

TEST_CASE("golden JSON of the hand-computable fixture") {
  TempDir tmp("report-golden");
  const auto dirs = rt::write_small_fixture(tmp.path());
  const Json j = report_json(dirs);
  CHECK(j["schema"] == 1);
  CHECK(j["warnings"].empty());
  REQUIRE(j["runs"].size() == 4);
  REQUIRE(j["groups"].size() == 2);
  CHECK(j["runs"][0]["group"] == 0);
  CHECK(j["runs"][3]["group"] == 1);
  CHECK(j["runs"][3]["levels"] == 3);

  const Json& a = j["groups"][0];
  CHECK(a["task"] == "glue/sst2");
  CHECK(a["label"] == "glue/sst2");
  CHECK(a["metric"] == "accuracy");
  CHECK(a["seeds"] == Json({1, 2, 3}));
  CHECK(a["dense"]["n"] == 3);
  CHECK(a["dense"]["mean"].get<double>() == doctest::Approx(0.82));
  CHECK(a["dense"]["std"].get<double>() == doctest::Approx(0.02));

  SUBCASE("trunk levels: mean, sample std, delta, matching") {
    const Json& l0 = row_at(a["levels"], 0);
    CHECK(l0["sparsity"].get<double>() == 0.0);
    CHECK(l0["delta"].get<double>() == doctest::Approx(0.0));
    CHECK(l0["matching"] == true);
    CHECK(l0["matching_strict"] == true);
    const Json& l1 = row_at(a["levels"], 1);
    CHECK(l1["sparsity"].get<double>() == doctest::Approx(0.25));
    CHECK(l1["metric"]["mean"].get<double>() == doctest::Approx(0.81));
    CHECK(l1["metric"]["std"].get<double>() == doctest::Approx(0.01));
    CHECK(l1["metric"]["values"].size() == 3);
    CHECK(l1["delta"].get<double>() == doctest::Approx(-0.01));
    CHECK(l1["matching"] == true);  // 0.81 >= 0.82 - 0.02
    CHECK(l1["matching_strict"] == false);  // 0.81 < 0.82
    const Json& l2 = row_at(a["levels"], 2);
    CHECK(l2["sparsity"].get<double>() == doctest::Approx(0.5));
    CHECK(l2["metric"]["mean"].get<double>() == doctest::Approx(0.79));
    CHECK(l2["metric"]["std"].get<double>() == doctest::Approx(0.01));
    CHECK(l2["delta"].get<double>() == doctest::Approx(-0.03));
    CHECK(l2["matching"] == false);  // 0.79 < 0.80
    CHECK(l2["matching_strict"] == false);
  }
  SUBCASE("finding: the sparsest matching IMP level, and the baselines there") {
    CHECK(a["sparsest_matching_level"] == 1);  // level 1 (25%) matches, level 2 (50%) does not
    const std::string md = lth::report::render_markdown(lth::report::build_report(dirs));
    CHECK(md.find("Sparsest matching IMP level: 1 (25.0% sparse), 0.8100 ± 0.0100 vs dense 0.8200 ± 0.0200.") !=
          std::string::npos);
    CHECK(md.find("Baseline random at that level: 0.7200 ± 0.0200, -0.1000 (not matching).") != std::string::npos);
  }
  SUBCASE("baselines") {
    REQUIRE(a["baselines"].size() == 2);
    const Json& r1 = row_at(a["baselines"]["random"], 1);
    CHECK(r1["sparsity"].get<double>() == doctest::Approx(0.25));
    CHECK(r1["metric"]["mean"].get<double>() == doctest::Approx(0.72));
    CHECK(r1["metric"]["std"].get<double>() == doctest::Approx(0.02));
    CHECK(r1["matching"] == false);
    const Json& r2 = row_at(a["baselines"]["random"], 2);
    CHECK(r2["metric"]["mean"].get<double>() == doctest::Approx(0.60));
    CHECK(r2["metric"]["std"].get<double>() == doctest::Approx(0.02));
    CHECK(r2["delta"].get<double>() == doctest::Approx(-0.22));
    const Json& o1 = row_at(a["baselines"]["oneshot"], 1);
    CHECK(o1["metric"]["mean"].get<double>() == doctest::Approx(0.81));
    CHECK(o1["metric"]["std"].get<double>() == doctest::Approx(0.005));
    CHECK(o1["matching"] == true);
    const Json& o2 = row_at(a["baselines"]["oneshot"], 2);
    CHECK(o2["metric"]["mean"].get<double>() == doctest::Approx(0.76));
    CHECK(o2["matching"] == false);
  }
  SUBCASE("per-matrix sparsity and remaining weights") {
    REQUIRE(a["matrices"].size() == 3);
    const Json& m1 = a["matrices"][1];
    CHECK(m1["level"] == 1);
    CHECK(m1["runs"] == 3);
    REQUIRE(m1["layers"].size() == 2);
    for (const Json& layer : m1["layers"]) {
      for (const char* k : {"Q", "K", "V", "AO", "I", "O"}) {
        CHECK(layer["matrices"][k]["total"].get<double>() == 4.0);
        CHECK(layer["matrices"][k]["pruned"].get<double>() == 1.0);
        CHECK(layer["matrices"][k]["sparsity"].get<double>() == doctest::Approx(0.25));
      }
      CHECK(layer["total"].get<double>() == 24.0);
      CHECK(layer["remaining"].get<double>() == 18.0);
      CHECK(layer["remaining_fraction"].get<double>() == doctest::Approx(0.75));
    }
    CHECK(m1["pooler"]["sparsity"].get<double>() == doctest::Approx(0.25));
    CHECK(m1["other"].empty());
    const Json& m2 = a["matrices"][2];
    CHECK(m2["layers"][1]["matrices"]["I"]["sparsity"].get<double>() == doctest::Approx(0.5));
    CHECK(m2["layers"][1]["remaining"].get<double>() == 12.0);
  }
  SUBCASE("IoU between consecutive levels") {
    REQUIRE(a["overlap"].size() == 2);
    const Json& o01 = a["overlap"][0];
    CHECK(o01["from_level"] == 0);
    CHECK(o01["to_level"] == 1);
    CHECK(o01["seeds"] == Json({1, 2, 3}));
    CHECK(o01["iou"]["mean"].get<double>() == doctest::Approx(39.0 / 52.0));
    CHECK(o01["iou"]["std"].get<double>() == doctest::Approx(0.0));
    const Json& o12 = a["overlap"][1];
    CHECK(o12["iou"]["mean"].get<double>() == doctest::Approx(26.0 / 39.0));  // seed 2 keeps {1,3} ⊂ {1,2,3} too
    const Json& b = j["groups"][1];
    CHECK(b["overlap"][1]["iou"]["n"] == 1);
    CHECK(b["overlap"][1]["iou"]["std"].is_null());
  }
  SUBCASE("single seed: no std, matching undecided") {
    const Json& b = j["groups"][1];
    CHECK(b["task"] == "glue/mrpc");
    CHECK(b["dense"]["n"] == 1);
    CHECK(b["dense"]["std"].is_null());
    CHECK(row_at(b["levels"], 1)["matching"].is_null());
    CHECK(row_at(b["levels"], 1)["delta"].get<double>() == doctest::Approx(0.01));
    CHECK(row_at(b["levels"], 1)["metric"]["std"].is_null());
  }
  SUBCASE("ticket similarity between tasks") {
    REQUIRE(j["similarity"].size() == 2);
    const Json& s25 = j["similarity"][0];
    CHECK(s25["sparsity"].get<double>() == doctest::Approx(0.25));
    CHECK(s25["labels"] == Json({"glue/sst2", "glue/mrpc"}));
    CHECK(s25["iou"][0][0].get<double>() == doctest::Approx(1.0));  // all sst2 seeds keep {1,2,3}
    CHECK(s25["iou"][0][1].get<double>() == doctest::Approx(0.5));  // {1,2,3} vs {0,1,2}: 26 / 52
    CHECK(s25["iou"][1][0] == s25["iou"][0][1]);
    CHECK(s25["iou"][1][1].is_null());  // one mrpc seed
    CHECK(s25["pairs"] == Json({{3, 3}, {3, 0}}));
    const Json& s50 = j["similarity"][1];
    CHECK(s50["sparsity"].get<double>() == doctest::Approx(0.5));
    CHECK(s50["iou"][0][0].get<double>() == doctest::Approx(5.0 / 9.0));  // (1/3 + 1 + 1/3) / 3
    CHECK(s50["iou"][0][1].get<double>() == doctest::Approx(1.0 / 9.0));  // (0 + 1/3 + 0) / 3
  }
  CHECK(j["transfer"].is_null());
}

TEST_CASE("Markdown has every section and says n/a for one seed") {
  TempDir tmp("report-md");
  const auto dirs = rt::write_small_fixture(tmp.path());
  const std::string md = lth::report::render_markdown(lth::report::build_report(dirs));
  for (const char* h : {"# Lottery-ticket report", "## Summary", "## Curves", "## Per-matrix sparsity", "## Mask overlap",
                        "### Ticket similarity", "## Transfer", "## Runs and warnings"}) {
    CHECK_MESSAGE(contains(md, h), h);
  }
  CHECK(contains(md, "| IMP | 1 | 25.0% | 0.8100 ± 0.0100 | 3 | -0.0100 | yes | no |"));
  CHECK(contains(md, "| IMP | 2 | 50.0% | 0.7900 ± 0.0100 | 3 | -0.0300 | no | no |"));
  CHECK(contains(md, "| random | 1 | 25.0% | 0.7200 ± 0.0200 | 3 | -0.1000 | no | no |"));
  CHECK(contains(md, "| IMP | 1 | 25.0% | 0.7100 | 1 | +0.0100 | n/a (1 seed) | yes |"));
  CHECK(contains(md, "| 0 | 25.0% | 25.0% | 25.0% | 25.0% | 25.0% | 25.0% | 18 / 24 (75.0%) |"));
  CHECK(contains(md, "| pooler | 50.0% |"));
  CHECK(contains(md, "--format html"));
}

TEST_CASE("matrices θ0 lacks: the report says which were left unpruned, or pruned with --prune-new-params") {
  TempDir tmp("report-new-params");
  rt::RunSpec spec;
  spec.names = rt::bert_names(1);
  spec.names.pop_back();  // no pooler in the masks: it was left dense
  spec.shapes.assign(spec.names.size(), {2, 2});
  const std::vector<std::vector<uint8_t>> all(spec.names.size(), {1, 1, 1, 1}), half(spec.names.size(), {0, 1, 0, 1});
  spec.levels = {{0, 0.8, all}, {1, 0.8, half}};
  spec.extra_summary = {{"new_parameters", Json::array({"bert.pooler.dense.weight"})}, {"prune_new_params", false}};
  rt::write_run(tmp.file("a"), spec);
  auto report = lth::report::build_report({tmp.file("a")});
  REQUIRE(report.groups.size() == 1);
  CHECK(report.groups[0].new_excluded == std::vector<std::string>{"bert.pooler.dense.weight"});
  CHECK(report.groups[0].new_pruned.empty());
  const std::string md = lth::report::render_markdown(report);
  CHECK(contains(md, "Not pruned: bert.pooler.dense.weight (not in θ0"));
  CHECK(contains(lth::report::render_html(report), "id=\"new-params-g0\""));
  const Json j = Json::parse(lth::report::render_json(report));
  CHECK(j["groups"][0]["new_excluded"] == Json::array({"bert.pooler.dense.weight"}));
  // The old behaviour, asked for: said so too.
  spec.extra_summary["prune_new_params"] = true;
  rt::write_run(tmp.file("b"), spec);
  report = lth::report::build_report({tmp.file("b")});
  CHECK(report.groups[0].new_pruned == std::vector<std::string>{"bert.pooler.dense.weight"});
  CHECK(contains(lth::report::render_markdown(report), "Pruned although not in θ0 (--prune-new-params): bert.pooler.dense.weight."));
  // θ0 held everything (the fixture): no note.
  CHECK_FALSE(contains(lth::report::render_markdown(lth::report::build_report(rt::write_small_fixture(tmp.file("c")))),
                       "not in θ0"));
}

TEST_CASE("HTML is one self-contained file with every section and plot") {
  TempDir tmp("report-html");
  auto inputs = rt::write_small_fixture(tmp.path());
  lth::write_file_atomic(tmp.file("transfer-matrix.json"),
                         R"({"schema":1,"sources":["mlm","glue/sst2"],"targets":["glue/sst2","glue/mrpc"],)"
                         R"("scores":[[0.9,0.8],[0.91,null]],"metric":"accuracy"})");
  inputs.push_back(tmp.file("transfer-matrix.json"));
  const auto report = lth::report::build_report(inputs);
  REQUIRE(report.transfer);
  CHECK(report.transfer->scores[1][1] == std::nullopt);
  const std::string html = lth::report::render_html(report);
  for (const char* id : {"summary", "curves", "heatmap", "overlap", "similarity", "transfer", "runs", "curve-g0", "curve-g1",
                         "heatmap-g0-l1", "heatmap-g1-l2", "similarity-0", "similarity-1", "transfer-heatmap", "summary-g0",
                         "matrices-g0-l2", "overlap-g0"}) {
    CHECK_MESSAGE(contains(html, std::string("id=\"") + id + "\""), id);
  }
  CHECK(contains(html, "<!DOCTYPE html>"));
  CHECK(contains(html, "@media print"));
  CHECK(contains(html, "n/a (1 seed)"));
  size_t svgs = 0;
  for (size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  CHECK(svgs == 2 + 6 + 2 + 1);  // curves, heatmaps (2 groups x 3 levels), similarity, transfer
  // Self-contained: no scripts, stylesheets, fonts, images or other fetches.
  for (const char* bad : {"<script", "<link", "<img", "@import", "url(", "src=", "https://"}) CHECK_MESSAGE(!contains(html, bad), bad);
  // Every SVG namespace aside, no http reference.
  std::string stripped = html;
  for (size_t p; (p = stripped.find("http://www.w3.org/2000/svg")) != std::string::npos;) stripped.erase(p, 26);
  CHECK(!contains(stripped, "http://"));
}

TEST_CASE("damaged and partial run directories: one warning per problem, the rest still renders") {
  TempDir tmp("report-damaged");
  const auto dirs = rt::write_small_fixture(tmp.path());
  fs::remove(dirs[1] + "/summary.json");                        // seed 2: no summary
  fs::remove(dirs[2] + "/level_2/result.json");                 // seed 3: level 2 not finished
  lth::write_file_atomic(dirs[0] + "/level_1/mask.safetensors", "garbage");  // seed 1: unreadable mask
  fs::remove(dirs[3] + "/level_2/sparsity.json");               // mrpc: sparsity counted from the mask
  fs::create_directories(tmp.file("empty"));
  std::vector<std::string> inputs = dirs;
  inputs.push_back(tmp.file("empty"));
  inputs.push_back(tmp.file("missing"));
  const Json j = report_json(inputs);
  CHECK(any_warning(j, dirs[1] + "/summary.json", "missing"));
  CHECK(any_warning(j, dirs[2] + "/level_2/result.json", "missing"));
  CHECK(any_warning(j, dirs[0] + "/level_1/mask.safetensors", "unreadable mask"));
  CHECK(any_warning(j, dirs[3] + "/level_2/sparsity.json", "missing"));
  CHECK(any_warning(j, tmp.file("empty"), "not an IMP run directory"));
  CHECK(any_warning(j, tmp.file("missing"), "does not exist"));
  REQUIRE(j["runs"].size() == 4);
  const Json& a = j["groups"][0];
  CHECK(a["seeds"] == Json({1, 2, 3}));
  // Seed 2's scores come from result.json (metric name guessed), seed 3's level 2 from summary.json.
  CHECK(a["dense"]["mean"].get<double>() == doctest::Approx(0.82));
  CHECK(row_at(a["levels"], 2)["metric"]["n"] == 3);
  CHECK(row_at(a["levels"], 2)["metric"]["mean"].get<double>() == doctest::Approx(0.79));
  // Seed 1 lost both overlaps around level 1; seeds 2 and 3 keep theirs.
  CHECK(a["overlap"][0]["seeds"] == Json({2, 3}));
  CHECK(a["overlap"][1]["seeds"] == Json({2, 3}));
  // Per-matrix sparsity of mrpc level 2 counted from its mask.
  const Json& m = j["groups"][1]["matrices"][2];
  CHECK(m["layers"][0]["matrices"]["Q"]["sparsity"].get<double>() == doctest::Approx(0.5));
  // Every format still renders.
  const auto report = lth::report::build_report(inputs);
  CHECK(contains(lth::report::render_markdown(report), dirs[1] + "/summary.json"));
  CHECK(contains(lth::report::render_html(report), "id=\"warnings\""));
}

TEST_CASE("no readable run is an IoError; a malformed transfer matrix is a warning") {
  TempDir tmp("report-none");
  fs::create_directories(tmp.file("empty"));
  CHECK_THROWS_AS(lth::report::build_report({tmp.file("empty")}), lth::IoError);
  CHECK_THROWS_AS(lth::report::build_report({tmp.file("nope")}), lth::IoError);
  const auto dirs = rt::write_small_fixture(tmp.path());
  lth::write_file_atomic(tmp.file("t.json"), R"({"schema":1,"sources":["a"],"targets":["b","c"],"scores":[[1]]})");
  const Json j = report_json({dirs[0], tmp.file("t.json")});
  CHECK(j["transfer"].is_null());
  CHECK(any_warning(j, tmp.file("t.json"), "one value per target"));
}

TEST_CASE("a multiplexing bench: the frontier table, its two plots, JSON points; alone or beside IMP runs; malformed is a warning") {
  TempDir tmp("report-mux");
  // What `lth mux bench --runs ... --json` prints: a dense N=1 row without a run, dense and 60%
  // N=5 rows with runs (a curve each), and the plain row the report leaves out.
  lth::write_file_atomic(tmp.file("frontier.json"), R"({"model":"m","seq_len":64,"batch":1,"rounds":3,"threads":2,)"
      R"("mux":"hadamard","demux":"index","mask":"","plain":{"n":0,"instances_per_s":900,"speedup":1},"rows":[)"
      R"({"n":1,"mux":"hadamard","demux":"mlp","mask":"","sparsity":0,"instances_per_s":800,"speedup":1},)"
      R"({"n":5,"mux":"hadamard","demux":"mlp","mask":"","sparsity":0,"instances_per_s":3200,"speedup":4,"runs":[)"
      R"({"dir":"runs/n5","task":"glue/sst2","metric":"accuracy","accuracy":0.75,"retrieval_accuracy":0.9,)"
      R"("warmup_retrieval_accuracy":0.95,"warmup_unigram_accuracy":0.06,"warmup_curve":[{"step":300,"retrieval_accuracy":0.5},)"
      R"({"step":600,"retrieval_accuracy":0.95}],"train_seconds":60}]},)"
      R"({"n":5,"mux":"hadamard","demux":"mlp","mask":"t/mask.safetensors","sparsity":0.6,"instances_per_s":4000,"speedup":5,)"
      R"("runs":[{"dir":"runs/n5-t","task":"glue/sst2","metric":"accuracy","accuracy":0.73,"retrieval_accuracy":0.88,)"
      R"("warmup_retrieval_accuracy":0.93,"warmup_unigram_accuracy":0.06,"warmup_curve":[],"train_seconds":50}]}]})");
  const auto report = lth::report::build_report({tmp.file("frontier.json")});  // no IMP run needed
  REQUIRE(report.mux);
  REQUIRE(report.mux->points.size() == 3);
  CHECK(report.mux->points[0].run.empty());
  CHECK_FALSE(report.mux->points[0].value);
  CHECK(*report.mux->points[2].value == doctest::Approx(0.73));
  CHECK(report.mux->points[1].warmup_curve == std::vector<std::pair<int64_t, double>>{{300, 0.5}, {600, 0.95}});
  const std::string md = lth::report::render_markdown(report);
  CHECK(md.rfind("# Multiplexing report", 0) == 0);  // alone: no empty IMP sections
  CHECK_FALSE(contains(md, "## Summary"));
  CHECK_MESSAGE(contains(md, "| 5 | 60.0% | hadamard / mlp | 4000.0 | 5.00x | glue/sst2 | accuracy | 0.7300 | 0.8800 | 0.9300 | 0.0600 | `runs/n5-t` |"), md);
  CHECK_MESSAGE(contains(md, "| 1 | dense | hadamard / mlp | 800.0 | 1.00x | — |"), md);
  CHECK_MESSAGE(contains(md, "| 5 | dense | `runs/n5` | 300: 0.500, 600: 0.950 |"), md);
  const std::string html = lth::report::render_html(report);
  for (const char* id : {"mux", "mux-table", "mux-frontier", "mux-warmup"}) CHECK_MESSAGE(contains(html, std::string("id=\"") + id + "\""), id);
  CHECK(contains(html, "unigram baseline"));
  const Json j = report_json({tmp.file("frontier.json")});
  CHECK(j["mux"]["points"][2]["sparsity"].get<double>() == doctest::Approx(0.6));
  CHECK(j["mux"]["points"][0]["value"].is_null());

  // Beside IMP runs; a second bench is ignored with a warning; a malformed one is a warning.
  const auto dirs = rt::write_small_fixture(tmp.path());
  lth::write_file_atomic(tmp.file("bad.json"), R"({"model":"m","seq_len":64,"threads":1,"rounds":1,"rows":[{"n":2}]})");
  CHECK(contains(lth::report::render_markdown(lth::report::build_report({dirs[0], tmp.file("frontier.json")})),
                 "## Multiplexing: accuracy × throughput"));
  const Json both = report_json({dirs[0], tmp.file("bad.json")});
  CHECK(both["mux"].is_null());
  CHECK(any_warning(both, tmp.file("bad.json"), "missing \"instances_per_s\""));
  CHECK(both["runs"].size() == 1);
  const Json twice = report_json({dirs[0], tmp.file("frontier.json"), tmp.file("frontier.json")});
  CHECK(twice["mux"]["points"].size() == 3);
  CHECK(any_warning(twice, tmp.file("frontier.json"), "a second multiplexing bench"));
  CHECK_THROWS_AS(lth::report::build_report({tmp.file("bad.json")}), lth::IoError);
}

TEST_CASE("a directory of run directories is expanded") {
  TempDir tmp("report-expand");
  rt::write_small_fixture(tmp.path());
  const Json j = report_json({tmp.path()});
  CHECK(j["runs"].size() == 4);
  CHECK(j["groups"].size() == 2);
}

TEST_CASE("lth report: formats, --out, exit codes") {
  TempDir tmp("report-cli");
  const auto dirs = rt::write_small_fixture(tmp.path());
  using lth::testing::quote;
  using lth::testing::run_lth;
  auto r = run_lth("report " + quote(dirs[0]) + " " + quote(dirs[1]) + " --format json");
  REQUIRE(r.exit_code == 0);
  const Json j = Json::parse(r.out);
  CHECK(j["schema"] == 1);
  CHECK(j["groups"][0]["dense"]["n"] == 2);
  r = run_lth("report " + quote(tmp.path()) + " --out " + quote(tmp.file("r.html")));
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(contains(lth::read_file(tmp.file("r.html")), "id=\"curves\""));
  r = run_lth("report " + quote(dirs[3]));
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "## Summary"));
  r = run_lth("report " + quote(tmp.file("nothing")));
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "no readable IMP run directory"));
  CHECK(contains(r.err, tmp.file("nothing")));
  r = run_lth("report " + quote(dirs[0]) + " --format pdf");
  CHECK(r.exit_code == 2);
  fs::remove(dirs[0] + "/level_1/result.json");
  r = run_lth("report " + quote(dirs[0]) + " --format md");
  CHECK(r.exit_code == 0);
  CHECK(contains(r.err, dirs[0] + "/level_1/result.json"));
}

}  // TEST_SUITE
