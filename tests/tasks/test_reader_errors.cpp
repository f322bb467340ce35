// Reader errors on damaged task files: a GLUE TSV without its header is refused for every GLUE
// layout that has one (it would silently lose its first row), and quoted values, JSON paths and
// nesting are bounded so every message stays one short line naming the file.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "core/file.h"
#include "tasks/glue/glue.h"
#include "tasks/ner/conll.h"
#include "tasks/squad/squad.h"
#include "tests/testing.h"

using lth::testing::error_of;

namespace glue = lth::tasks::glue;
using lth::testing::shared_dir;
using lth::testing::TempDir;

namespace {

void check_short(const std::string& message, const std::string& path) {
  INFO(message);
  CHECK(message.rfind(path, 0) == 0);
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.size() - path.size() < 300);
}

// A data row for a split's layout: the right number of columns, a valid label or score.
std::string data_row(const glue::TaskSpec& task, const glue::SplitSpec& split) {
  const glue::ColumnLayout& l = split.layout;
  const int columns = l.num_columns > 0 ? l.num_columns : static_cast<int>(l.header.size()) + 1;
  std::string row;
  for (int c = 0; c < columns; ++c) {
    std::string cell = "w" + std::to_string(c);
    const bool label = c == l.label_column || (l.label_column == glue::kLastColumn && c == columns - 1);
    if (label) cell = task.is_regression ? "2.5" : task.labels.front();
    if (c == l.index_column) cell = "17";
    row += (c ? "\t" : "") + cell;
  }
  return row + "\n";
}

std::string header_line(const glue::SplitSpec& split) {
  std::string line;
  for (const auto& h : split.layout.header) line += (line.empty() ? "" : "\t") + h;
  if (split.layout.num_columns == 0) line += "\tgold_label";
  return line + "\n";
}

}  // namespace

TEST_SUITE("tasks.readers") {
  TEST_CASE("GLUE: every layout with a header refuses a file without it, and reads it with it") {
    TempDir dir("no-header");
    int checked = 0;
    for (const auto& task : glue::all_tasks()) {
      for (const auto& split : task.splits) {
        INFO(task.name, " ", split.name);
        const std::string path = dir.file(task.short_name + "-" + split.file);
        const std::string rows = data_row(task, split) + data_row(task, split);
        if (!split.layout.has_header) {
          // CoLA train/dev have no header in GLUE: every line is a row.
          lth::write_file_atomic(path, rows);
          CHECK(glue::read_tsv(task, split, path).size() == 2);
          continue;
        }
        REQUIRE_FALSE(split.layout.header.empty());
        lth::write_file_atomic(path, rows);
        const std::string message = error_of<lth::IoError>([&] { glue::read_tsv(task, split, path); });
        CHECK(message.find(path + ":1: not the " + task.name + " " + split.name + " header: expected '") == 0);
        check_short(message, path);
        lth::write_file_atomic(path, header_line(split) + rows);
        CHECK(glue::read_tsv(task, split, path).size() == 2);
        ++checked;
      }
    }
    CHECK(checked == 28);  // 30 splits, CoLA train/dev without header
  }

  TEST_CASE("GLUE: the registry's headers are the real files' headers") {
    const std::string root = shared_dir() + "/data/glue";
    int compared = 0;
    for (const auto& task : glue::all_tasks()) {
      for (const auto& split : task.splits) {
        const std::string path = glue::split_path(task, split.name, root);
        if (!split.layout.has_header || !lth::path_exists(path)) continue;
        INFO(path);
        std::ifstream in(path);
        std::string first;
        std::getline(in, first);
        if (first.rfind("\xef\xbb\xbf", 0) == 0) first = first.substr(3);
        if (!first.empty() && first.back() == '\r') first.pop_back();
        std::string want;
        for (const auto& h : split.layout.header) want += (want.empty() ? "" : "\t") + h;
        CHECK(first == want);
        ++compared;
      }
    }
    CHECK(compared >= 15);  // shared data: CoLA, SST-2, MRPC, STS-B, QNLI, RTE, WNLI, AX
  }

  TEST_CASE("GLUE: the committed fuzz inputs end in short one-line errors") {
    // fuzz/regressions/fuzz_glue_tsv: first byte = layout index (as the fuzz target), rest = file.
    std::vector<std::pair<const glue::TaskSpec*, const glue::SplitSpec*>> layouts;
    for (const auto& task : glue::all_tasks())
      for (const auto& split : task.splits) layouts.emplace_back(&task, &split);
    TempDir dir("glue-fuzz");
    int replayed = 0;
    for (const auto& entry : std::filesystem::directory_iterator(lth::testing::source_dir() + "/fuzz/regressions/fuzz_glue_tsv")) {
      const std::string bytes = lth::read_file(entry.path().string());
      REQUIRE_FALSE(bytes.empty());
      const auto& [task, split] = layouts[static_cast<unsigned char>(bytes[0]) % layouts.size()];
      const std::string path = dir.file(split->file);
      lth::write_file_atomic(path, bytes.substr(1));
      const std::string message = error_of<lth::IoError>([&, t = task, s = split] { glue::read_tsv(*t, *s, path); });
      if (message != "<no error>") check_short(message, path);
      ++replayed;
    }
    CHECK(replayed >= 1);
  }

  TEST_CASE("GLUE: a long label is clipped in the message") {
    TempDir dir("long-label");
    const auto& sst2 = glue::find_task("glue/sst2");
    const std::string path = dir.file("train.tsv");
    lth::write_file_atomic(path, "sentence\tlabel\nfine\t" + std::string(10000, '7') + "\n");
    const std::string message = error_of<lth::IoError>([&] { glue::read_tsv(sst2, sst2.split("train"), path); });
    CHECK(message.find(":2: unknown label '777") != std::string::npos);
    check_short(message, path);
  }

  TEST_CASE("SQuAD: JSON nested 100k deep and overlong ids end in short messages") {
    TempDir dir("squad-limits");
    const std::string path = dir.file("dev.json");
    lth::write_file_atomic(path, "{\"data\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
    const std::string deep = error_of<lth::IoError>([&] { lth::tasks::squad::read_dataset(path); });
    CHECK(deep.find("nests deeper than") != std::string::npos);
    check_short(deep, path);
    const std::string id(5000, 'q');
    const std::string qa = "{\"id\": \"" + id + "\", \"question\": \"Q?\", \"answers\": [{\"text\": \"a\", \"answer_start\": 0}]}";
    lth::write_file_atomic(path, "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"a b\", \"qas\": [" + qa +
                                     ", " + qa + "]}]}]}");
    const std::string dup = error_of<lth::IoError>([&] { lth::tasks::squad::read_dataset(path); });
    CHECK(dup.find("duplicate question id 'qqq") != std::string::npos);
    check_short(dup, path);
  }

  TEST_CASE("CoNLL: a long bad tag is clipped in the message") {
    TempDir dir("conll-limits");
    const std::string path = dir.file("eng.train");
    lth::write_file_atomic(path, "EU NNP B-NP " + std::string(8000, 'X') + "\n");
    const std::string message = error_of<lth::IoError>([&] { lth::tasks::ner::read_conll2003(path); });
    CHECK(message.find(":1: bad NER tag 'XXX") != std::string::npos);
    check_short(message, path);
  }
}
