// train::OpProfile (lth finetune --profile-ops): the operators it counts are the ones that ran
// while it was active, nested operators' time is split into self and total, and the training loop
// writes the table for its steps.
#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "tests/testing.h"
#include "tests/train/fixtures.h"
#include "train/op_profile.h"
#include "train/trainer.h"

namespace lt = lth::testing;

namespace {

struct Row {
  double calls = 0, self_ms = 0, total_ms = 0;
};

// The table's rows by operator name ("| name | calls | self | share | total |").
std::map<std::string, Row> parse_rows(const std::string& table) {
  std::map<std::string, Row> rows;
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| ", 0) != 0 || line.rfind("| operator", 0) == 0) continue;
    std::vector<std::string> cells;
    std::istringstream cols(line.substr(1));
    for (std::string cell; std::getline(cols, cell, '|');) cells.push_back(cell.substr(1, cell.size() - 2));
    REQUIRE(cells.size() == 5);
    rows[cells[0]] = {std::stod(cells[1]), std::stod(cells[2]), std::stod(cells[4])};
  }
  return rows;
}

}  // namespace

TEST_SUITE("train.op_profile") {
  TEST_CASE("OpProfile counts the operators run while it is active, self time within total") {
    auto a = torch::randn({64, 64}), b = torch::randn({64, 64});
    at::mm(a, b);  // before: not counted
    lth::train::OpProfile profile;
    for (int i = 0; i < 6; ++i) at::mm(a, b);
    for (int i = 0; i < 4; ++i) at::add(a, b);
    at::matmul(a.unsqueeze(0).expand({3, 64, 64}), b);  // calls mm-family ops inside itself
    profile.stop();
    for (int i = 0; i < 5; ++i) at::add(a, b);  // after: not counted
    const auto rows = parse_rows(profile.table(2, 100, "test"));
    REQUIRE(rows.count("aten::mm") == 1);
    REQUIRE(rows.count("aten::add") == 1);
    REQUIRE(rows.count("aten::matmul") == 1);
    // Per step of 2: mm ran 6 times directly (matmul may call it too), add 4 times.
    CHECK(rows.at("aten::mm").calls >= 3.0);
    CHECK(rows.at("aten::add").calls == doctest::Approx(2.0));
    CHECK(rows.at("aten::matmul").calls == doctest::Approx(0.5));
    for (const auto& row : rows) {  // not a structured binding: clang cannot capture those in INFO
      CHECK_MESSAGE(row.second.self_ms <= row.second.total_ms + 1e-3, row.first);
    }
    // matmul's own time excludes the product it delegates.
    CHECK(rows.at("aten::matmul").total_ms > rows.at("aten::matmul").self_ms);
    auto two_at_once = [] {
      lth::train::OpProfile first;
      lth::train::OpProfile second;
    };
    CHECK_THROWS_AS(two_at_once(), lth::Error);  // one at a time
  }

  TEST_CASE("the loop writes --profile-ops: forward operators and autograd nodes, per step") {
    auto bert = lt::fixture_bert(/*dropout=*/true);
    const auto data = lt::random_features(16, 5);
    lth::train::TrainConfig c = lt::quick_config();
    c.length = "3it";
    lt::TempDir dir("train-op-profile");
    c.profile_ops = dir.path() + "/ops.md";
    lth::train::train(bert, data, lth::train::LabelKind::kClass, 0, c, {}, dir.path() + "/run");
    const std::string table = lth::read_file(c.profile_ops);
    CHECK(table.rfind("# ", 0) == 0);
    CHECK(table.find("over 3 steps") != std::string::npos);
    // Time inside operators is part of the wall time.
    const auto inside = table.find("ms/step inside operators of ");
    REQUIRE(inside != std::string::npos);
    const double wall = std::stod(table.substr(inside + std::string("ms/step inside operators of ").size()));
    const auto colon = table.rfind(": ", inside);
    const double observed = std::stod(table.substr(colon + 2));
    CHECK(observed > 0.0);
    CHECK(observed <= wall);
    const auto rows = parse_rows(table);
    REQUIRE(rows.count("aten::mm") == 1);
    // The fixture has 2 layers of 6 Linear maps: one product each forward, two each backward.
    CHECK(rows.at("aten::mm").calls + (rows.count("aten::addmm") ? rows.at("aten::addmm").calls : 0.0) >= 36.0);
    CHECK(rows.count("aten::native_layer_norm_backward") == 1);
    CHECK(rows.count("torch::autograd::AccumulateGrad") == 1);
    // A second run can profile again (the first one's observer is gone).
    lth::train::OpProfile again;
  }

  TEST_CASE("--profile-ops into a missing folder or onto a folder is refused before training") {
    auto bert = lt::fixture_bert();
    lth::train::TrainConfig c = lt::quick_config();
    c.length = "1it";
    lt::TempDir dir("train-op-profile-bad");
    for (const std::string& target : {dir.path() + "/missing/ops.md", dir.path()}) {
      c.profile_ops = target;
      CHECK_THROWS_AS(lth::train::train(bert, lt::random_features(8, 6), lth::train::LabelKind::kClass, 0, c, {},
                                        dir.path() + "/run"),
                      lth::IoError);
      CHECK_FALSE(lth::path_exists(dir.path() + "/run"));  // nothing written, not even the run folder
    }
  }
}
