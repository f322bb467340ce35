#include "tasks/glue/glue.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "tasks/common/text.h"

namespace lth::tasks::glue {
namespace {

ColumnLayout layout(bool header, int columns, int index, int a, int b, int label,
                    std::vector<std::string> names = {}) {
  ColumnLayout l;
  l.has_header = header;
  l.header = std::move(names);
  l.num_columns = columns;
  l.index_column = index;
  l.text_a_column = a;
  l.text_b_column = b;
  l.label_column = label;
  return l;
}

// Tasks whose train/dev/test files share one layout apart from the label column.
std::vector<SplitSpec> standard_splits(const std::string& stem, const ColumnLayout& labeled,
                                       const ColumnLayout& test) {
  return {{"train", "train.tsv", stem, labeled}, {"dev", "dev.tsv", stem, labeled}, {"test", "test.tsv", stem, test}};
}

std::vector<TaskSpec> build_registry() {
  constexpr int N = kNoColumn;
  const std::vector<std::string> binary = {"0", "1"};
  const std::vector<std::string> entail = {"entailment", "not_entailment"};
  const std::vector<std::string> nli = {"contradiction", "entailment", "neutral"};
  std::vector<TaskSpec> t;
  auto add = [&](std::string short_name, std::string dir, std::vector<std::string> labels,
                 std::vector<SplitSpec> splits, std::vector<std::string> metrics, std::string main) {
    TaskSpec s;
    s.name = "glue/" + short_name;
    s.short_name = std::move(short_name);
    s.dir = std::move(dir);
    s.is_regression = labels.empty();
    s.labels = std::move(labels);
    s.splits = std::move(splits);
    s.metrics = std::move(metrics);
    s.main_metric = std::move(main);
    t.push_back(std::move(s));
  };
  // CoLA train/dev: no header; source, label, original mark, sentence.
  const std::vector<std::string> single_test = {"index", "sentence"};
  add("cola", "CoLA", binary,
      standard_splits("CoLA", layout(false, 4, N, 3, N, 1), layout(true, 2, 0, 1, N, N, single_test)), {"mcc"},
      "mcc");
  add("sst2", "SST-2", binary,
      standard_splits("SST-2", layout(true, 2, N, 0, N, 1, {"sentence", "label"}),
                      layout(true, 2, 0, 1, N, N, single_test)),
      {"accuracy"}, "accuracy");
  // MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String (header behind a BOM).
  add("mrpc", "MRPC", binary,
      standard_splits("MRPC", layout(true, 5, N, 3, 4, 0, {"Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"}),
                      layout(true, 5, 0, 3, 4, N, {"index", "#1 ID", "#2 ID", "#1 String", "#2 String"})),
      {"accuracy", "f1"}, "accuracy");
  // STS-B: index genre filename year old_index source1 source2 sentence1 sentence2 score.
  const std::vector<std::string> stsb_test = {"index",   "genre",   "filename",  "year",     "old_index",
                                              "source1", "source2", "sentence1", "sentence2"};
  std::vector<std::string> stsb_labeled = stsb_test;
  stsb_labeled.push_back("score");
  add("stsb", "STS-B", {},
      standard_splits("STS-B", layout(true, 10, 0, 7, 8, 9, stsb_labeled), layout(true, 9, 0, 7, 8, N, stsb_test)),
      {"pearson", "spearman"}, "pearson");
  // QQP: id qid1 qid2 question1 question2 is_duplicate; test: id question1 question2.
  add("qqp", "QQP", binary,
      standard_splits("QQP", layout(true, 6, 0, 3, 4, 5, {"id", "qid1", "qid2", "question1", "question2", "is_duplicate"}),
                      layout(true, 3, 0, 1, 2, N, {"id", "question1", "question2"})),
      {"accuracy", "f1"}, "accuracy");
  // MNLI: index promptID pairID genre <4 parse columns> sentence1 sentence2 [label1.. ] gold_label.
  const std::vector<std::string> mnli_head = {"index",
                                              "promptID",
                                              "pairID",
                                              "genre",
                                              "sentence1_binary_parse",
                                              "sentence2_binary_parse",
                                              "sentence1_parse",
                                              "sentence2_parse",
                                              "sentence1",
                                              "sentence2"};
  const ColumnLayout mnli_labeled = layout(true, 0, 0, 8, 9, kLastColumn, mnli_head);
  const ColumnLayout mnli_test = layout(true, 0, 0, 8, 9, N, mnli_head);
  add("mnli", "MNLI", nli,
      {{"train", "train.tsv", "MNLI", mnli_labeled},
       {"dev_matched", "dev_matched.tsv", "MNLI-m", mnli_labeled},
       {"dev_mismatched", "dev_mismatched.tsv", "MNLI-mm", mnli_labeled},
       {"test_matched", "test_matched.tsv", "MNLI-m", mnli_test},
       {"test_mismatched", "test_mismatched.tsv", "MNLI-mm", mnli_test}},
      {"accuracy"}, "accuracy");
  // QNLI/RTE/WNLI: index sentence1 sentence2 label (QNLI: question sentence).
  const ColumnLayout pair_labeled = layout(true, 4, 0, 1, 2, 3, {"index", "sentence1", "sentence2", "label"});
  const ColumnLayout pair_test = layout(true, 3, 0, 1, 2, N, {"index", "sentence1", "sentence2"});
  add("qnli", "QNLI", entail,
      standard_splits("QNLI", layout(true, 4, 0, 1, 2, 3, {"index", "question", "sentence", "label"}),
                      layout(true, 3, 0, 1, 2, N, {"index", "question", "sentence"})),
      {"accuracy"}, "accuracy");
  add("rte", "RTE", entail, standard_splits("RTE", pair_labeled, pair_test), {"accuracy"}, "accuracy");
  add("wnli", "WNLI", binary, standard_splits("WNLI", pair_labeled, pair_test), {"accuracy"}, "accuracy");
  // AX: the diagnostic set, unlabeled, predicted with an MNLI model; GLUE scores it with R3 (MCC).
  add("ax", "diagnostic", nli, {{"test", "diagnostic.tsv", "AX", pair_test}}, {"mcc"}, "mcc");
  return t;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::optional<double> parse_double(std::string_view s) {
  if (s.empty()) return std::nullopt;
  const std::string buf(s);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::size_t resolve(int column, std::size_t n) {
  return column == kLastColumn ? n - 1 : static_cast<std::size_t>(column);
}

std::string format_score(double v) { return fmt::format("{}", v); }

std::string join_tabs(const std::vector<std::string_view>& cells, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < std::min(n, cells.size()); ++i) out += (i ? "\t" : "") + std::string(cells[i]);
  return out;
}

// The first line of a file with a header must be that header: the cells of the columns the reader
// uses (index, texts, label) must carry their GLUE names. Reading a mismatching line as data would
// be a guess (a header-less file may also order its columns differently), and dropping it as a
// header loses a row without a word, so a mismatch is an error that shows the expected header.
void check_header(const TaskSpec& task, const SplitSpec& split, const std::string& path,
                  const std::vector<std::string_view>& cells) {
  const ColumnLayout& l = split.layout;
  if (l.header.empty() || cells.empty()) return;
  bool ok = true;
  for (int column : {l.index_column, l.text_a_column, l.text_b_column}) {
    if (column == kNoColumn) continue;
    const auto c = static_cast<std::size_t>(column);
    ok = ok && c < cells.size() && c < l.header.size() && cells[c] == l.header[c];
  }
  if (l.label_column == kLastColumn) {
    ok = ok && cells.back() == "gold_label";
  } else if (l.label_column != kNoColumn) {
    const auto c = static_cast<std::size_t>(l.label_column);
    ok = ok && c < cells.size() && c < l.header.size() && cells[c] == l.header[c];
  }
  if (ok) return;
  const std::vector<std::string_view> expected(l.header.begin(), l.header.end());
  const char* tail = l.label_column == kLastColumn ? "\\t...\\tgold_label" : (l.num_columns == 0 ? "\\t..." : "");
  LTH_FAIL(IoError, "{}:1: not the {} {} header: expected '{}{}', found '{}' (add the header line)",
           path, task.name, split.name, clip(join_tabs(expected, expected.size()), 100), tail,
           clip(join_tabs(cells, expected.size()), 60));
}

}  // namespace

const SplitSpec& TaskSpec::split(std::string_view split) const {
  for (const auto& s : splits)
    if (s.name == split) return s;
  std::vector<std::string> names;
  for (const auto& s : splits) names.push_back(s.name);
  LTH_FAIL(ConfigError, "{} has no split '{}' (splits: {})", name, split, join(names));
}

int TaskSpec::label_id(std::string_view label) const {
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == label) return static_cast<int>(i);
  return -1;
}

const std::vector<TaskSpec>& all_tasks() {
  static const std::vector<TaskSpec> tasks = build_registry();
  return tasks;
}

const TaskSpec& find_task(std::string_view name) {
  for (const auto& t : all_tasks())
    if (t.name == name || t.short_name == name) return t;
  std::vector<std::string> names;
  for (const auto& t : all_tasks()) names.push_back(t.name);
  LTH_FAIL(ConfigError, "unknown GLUE task '{}' (known: {})", name, join(names));
}

std::string split_path(const TaskSpec& task, std::string_view split, const std::string& glue_root) {
  return glue_root + "/" + task.dir + "/" + task.split(split).file;
}

std::vector<Example> read_split(const TaskSpec& task, std::string_view split, const std::string& glue_root,
                                const ReadOptions& options) {
  return read_tsv(task, task.split(split), split_path(task, split, glue_root), options);
}

std::vector<Example> read_tsv(const TaskSpec& task, const SplitSpec& split, const std::string& path,
                              const ReadOptions& options) {
  const ColumnLayout& l = split.layout;
  const std::string content = read_file(path);
  const std::vector<Line> lines = split_lines(strip_bom(content));
  std::size_t first = 0;
  std::size_t columns = static_cast<std::size_t>(l.num_columns);
  if (l.has_header) {
    LTH_CHECK(!lines.empty(), IoError, "{}: empty file, expected a header", path);
    const std::size_t header_columns = split_tabs(lines[0].text).size();
    if (columns == 0) columns = header_columns;
    LTH_CHECK(header_columns == columns, IoError, "{}:1: expected {} columns in the header, found {}", path, columns,
              header_columns);
    check_header(task, split, path, split_tabs(lines[0].text));
    first = 1;
  }
  int max_column = std::max({l.index_column, l.text_a_column, l.text_b_column, l.label_column});
  if (l.label_column == kLastColumn) max_column = std::max(max_column, 0);
  LTH_CHECK(columns > static_cast<std::size_t>(max_column) && columns > 0, IoError,
            "{}: {} columns cannot hold the {} {} layout", path, columns, task.name, split.name);

  std::vector<Example> out;
  out.reserve(lines.size() - first);
  std::size_t skipped = 0;
  for (std::size_t i = first; i < lines.size(); ++i) {
    const Line& line = lines[i];
    const std::vector<std::string_view> f = split_tabs(line.text);
    if (f.size() != columns) {
      if (options.skip_malformed_rows) {
        ++skipped;
        continue;
      }
      LTH_FAIL(IoError, "{}:{}: expected {} columns, found {}", path, line.number, columns, f.size());
    }
    Example ex;
    ex.line = line.number;
    ex.guid = l.index_column != kNoColumn ? std::string(f[static_cast<std::size_t>(l.index_column)])
                                          : fmt::format("{}-{}", split.name, out.size());
    ex.text_a = std::string(f[static_cast<std::size_t>(l.text_a_column)]);
    if (l.text_b_column != kNoColumn) ex.text_b = std::string(f[static_cast<std::size_t>(l.text_b_column)]);
    if (l.label_column != kNoColumn) {
      const std::string_view label = f[resolve(l.label_column, f.size())];
      ex.label = std::string(label);
      if (task.is_regression) {
        const auto v = parse_double(label);
        LTH_CHECK(v.has_value(), IoError, "{}:{}: score '{}' is not a number", path, line.number, clip(label));
        ex.score = *v;
      } else {
        ex.label_id = task.label_id(label);
        LTH_CHECK(ex.label_id >= 0, IoError, "{}:{}: unknown label '{}' for {} (labels: {})", path, line.number,
                  clip(label), task.name, join(task.labels));
      }
    }
    out.push_back(std::move(ex));
  }
  if (skipped > 0) log::warn("glue", "{}: skipped {} malformed rows", path, skipped);
  return out;
}

std::string submission_file_name(const TaskSpec& task, std::string_view split) {
  return task.split(split).submission_name + ".tsv";
}

void write_submission(const std::string& path, const TaskSpec& task, const std::vector<Example>& examples,
                      const std::vector<int>& label_ids) {
  LTH_CHECK(!task.is_regression, ConfigError, "{} is a regression task: write scores, not label ids", task.name);
  LTH_CHECK(examples.size() == label_ids.size(), ConfigError, "{}: {} examples but {} predictions", path,
            examples.size(), label_ids.size());
  std::string out = "index\tprediction\n";
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const int id = label_ids[i];
    LTH_CHECK(id >= 0 && id < static_cast<int>(task.labels.size()), ConfigError,
              "{}: prediction {} for example {} is not a label id of {} (0..{})", path, id, examples[i].guid,
              task.name, task.labels.size() - 1);
    out += examples[i].guid + "\t" + task.labels[static_cast<std::size_t>(id)] + "\n";
  }
  write_file_atomic(path, out);
}

void write_submission(const std::string& path, const TaskSpec& task, const std::vector<Example>& examples,
                      const std::vector<double>& scores) {
  LTH_CHECK(task.is_regression, ConfigError, "{} is a classification task: write label ids, not scores", task.name);
  LTH_CHECK(examples.size() == scores.size(), ConfigError, "{}: {} examples but {} predictions", path,
            examples.size(), scores.size());
  std::string out = "index\tprediction\n";
  for (std::size_t i = 0; i < examples.size(); ++i) {
    LTH_CHECK(std::isfinite(scores[i]), ConfigError, "{}: prediction for example {} is not finite", path,
              examples[i].guid);
    out += examples[i].guid + "\t" + format_score(scores[i]) + "\n";
  }
  write_file_atomic(path, out);
}

std::vector<SubmissionRow> read_submission(const std::string& path, const TaskSpec& task) {
  const std::string content = read_file(path);
  const std::vector<Line> lines = split_lines(strip_bom(content));
  LTH_CHECK(!lines.empty() && lines[0].text == "index\tprediction", IoError,
            "{}:1: expected the header 'index<TAB>prediction'", path);
  std::vector<SubmissionRow> rows;
  rows.reserve(lines.size() - 1);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const Line& line = lines[i];
    const auto f = split_tabs(line.text);
    LTH_CHECK(f.size() == 2, IoError, "{}:{}: expected 2 columns, found {}", path, line.number, f.size());
    SubmissionRow row;
    row.index = std::string(f[0]);
    row.prediction = std::string(f[1]);
    if (task.is_regression) {
      const auto v = parse_double(f[1]);
      LTH_CHECK(v.has_value(), IoError, "{}:{}: prediction '{}' is not a number", path, line.number, clip(f[1]));
      row.score = *v;
    } else {
      row.label_id = task.label_id(f[1]);
      LTH_CHECK(row.label_id >= 0, IoError, "{}:{}: unknown label '{}' for {} (labels: {})", path, line.number,
                clip(f[1]), task.name, join(task.labels));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace lth::tasks::glue
