// GLUE: task registry ("glue/cola" ... "glue/ax"), readers for the original GLUE TSV files as
// download_glue_data.py lays them out, and the GLUE-server submission format.
//
// File facts the readers follow: tab-separated, no quoting (a '"' is literal), LF or CRLF, an
// optional UTF-8 BOM before the header (MRPC), CoLA train/dev without a header, test files with an
// `index` column and no label, a final line with or without '\n'.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lth::tasks::glue {

// Column index meaning "the last column of the row" (MNLI's gold_label).
inline constexpr int kLastColumn = -2;
inline constexpr int kNoColumn = -1;

// How one split's file is laid out. Column indices are 0-based.
struct ColumnLayout {
  bool has_header = true;
  int num_columns = 0;  // exact number of columns per row; 0 = as many as the header has
  int index_column = kNoColumn;  // kNoColumn: guid becomes "<split>-<row>" (row 0-based)
  int text_a_column = 0;
  int text_b_column = kNoColumn;
  int label_column = kNoColumn;  // kNoColumn: unlabeled (test splits)
  // The header's cells as GLUE's files spell them (has_header only; MNLI: the first ten, its labeled
  // files end in "gold_label"). The first line's cells at the columns read (index, texts, label) must
  // match them, else the reader fails instead of dropping a data row in the header's place.
  std::vector<std::string> header;
};

struct SplitSpec {
  std::string name;             // "train", "dev", "test", "dev_matched", ...
  std::string file;             // "train.tsv", "diagnostic.tsv"
  std::string submission_name;  // file stem the GLUE server expects: "MRPC", "MNLI-m", "AX"
  ColumnLayout layout;
};

struct TaskSpec {
  std::string name;        // "glue/mrpc"
  std::string short_name;  // "mrpc"
  std::string dir;         // folder under the GLUE root: "MRPC", "SST-2", "diagnostic"
  std::vector<std::string> labels;  // as the files spell them; empty for regression
  bool is_regression = false;
  std::vector<SplitSpec> splits;
  std::vector<std::string> metrics;  // from "accuracy", "f1", "mcc", "pearson", "spearman"
  std::string main_metric;           // the one the lottery-ticket paper reports

  // Throws ConfigError naming the task and its splits when `split` is not one of them.
  const SplitSpec& split(std::string_view split) const;
  // Index of `label` in `labels`, or -1.
  int label_id(std::string_view label) const;
  // Output width of the classifier head: labels.size(), or 1 for regression.
  int num_outputs() const { return is_regression ? 1 : static_cast<int>(labels.size()); }
};

// The ten tasks in GLUE's order (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX).
const std::vector<TaskSpec>& all_tasks();
// By registry name ("glue/sst2") or short name ("sst2"); ConfigError listing the known names.
const TaskSpec& find_task(std::string_view name);

struct Example {
  std::string guid;                   // the file's index/id column, else "<split>-<row>"
  std::string text_a;
  std::optional<std::string> text_b;  // single-sentence tasks (CoLA, SST-2) have none
  std::optional<std::string> label;   // as spelled in the file; none for test splits
  int label_id = -1;                  // index into TaskSpec::labels; -1 for regression/unlabeled
  double score = std::numeric_limits<double>::quiet_NaN();  // STS-B similarity (0..5)
  std::int64_t line = 0;              // 1-based line in the file, for messages
};

struct ReadOptions {
  // Skip rows with the wrong number of columns (warning with a count) instead of throwing;
  // the original QQP files are known to contain a few such rows.
  bool skip_malformed_rows = false;
};

// <glue_root>/<task.dir>/<split file>.
std::string split_path(const TaskSpec& task, std::string_view split, const std::string& glue_root);

// Reads one split from the GLUE root directory (the folder holding CoLA/, SST-2/, ...).
// Throws IoError: missing file (path named), "FILE:LINE: expected N columns, found M",
// "FILE:LINE: unknown label 'x' ...", "FILE:LINE: score 'x' is not a number", a first line that is
// not the split's header (a file without its header is an error, never read with one row lost).
std::vector<Example> read_split(const TaskSpec& task, std::string_view split, const std::string& glue_root,
                                const ReadOptions& options = {});
// Reads one file with an explicit layout (used by read_split; handy for renamed files).
std::vector<Example> read_tsv(const TaskSpec& task, const SplitSpec& split, const std::string& path,
                              const ReadOptions& options = {});

// --- Submission files: header "index\tprediction", one row per test example -------------------

struct SubmissionRow {
  std::string index;
  std::string prediction;  // label string as the task's files spell it, or the STS-B score
  int label_id = -1;       // parsed back by read_submission (-1 for regression)
  double score = std::numeric_limits<double>::quiet_NaN();  // STS-B
};

// "<split.submission_name>.tsv", e.g. "MNLI-mm.tsv", "AX.tsv".
std::string submission_file_name(const TaskSpec& task, std::string_view split);
// Classification: one label id per example (ConfigError when out of range or sizes differ).
void write_submission(const std::string& path, const TaskSpec& task, const std::vector<Example>& examples,
                      const std::vector<int>& label_ids);
// Regression (STS-B): one score per example, written with round-trip precision.
void write_submission(const std::string& path, const TaskSpec& task, const std::vector<Example>& examples,
                      const std::vector<double>& scores);
// Reads a submission back, checking the header, the columns and every prediction.
std::vector<SubmissionRow> read_submission(const std::string& path, const TaskSpec& task);

}  // namespace lth::tasks::glue
