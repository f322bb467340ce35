// The official SQuAD evaluation (evaluate-v1.1.py and evaluate-v2.0.py), re-implemented.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tasks/common/metrics.h"
#include "tasks/squad/squad.h"

namespace lth::tasks::squad {

// The official normalize_answer: Python str.lower(); drop ASCII punctuation (string.punctuation);
// replace the whole words a/an/the (regex \b(a|an|the)\b, Unicode word characters) by a space;
// collapse Unicode whitespace to single spaces.
std::string normalize_answer(std::string_view s);
// normalize_answer(s).split().
std::vector<std::string> answer_tokens(std::string_view s);

bool exact_match(std::string_view prediction, std::string_view gold);
// Token F1. v1.1: 0 when nothing is shared (also when both are empty). v2.0: when either side has no
// tokens, 1 if both have none, else 0.
double f1_score(std::string_view prediction, std::string_view gold, Version version);

// The gold answers scored against: v1.1 every answer text (duplicates kept); v2.0 the answers whose
// normalisation is non-empty, or {""} when there are none (impossible questions).
std::vector<std::string> gold_answers(const Question& q, Version version);

struct EvalResult {
  double exact_match = 0;  // percent
  double f1 = 0;           // percent
  std::int64_t total = 0;  // questions in the dataset
  // v2.0 breakdown (also filled for v1.1, where every question has an answer).
  std::int64_t has_ans_total = 0, no_ans_total = 0;
  double has_ans_exact = 0, has_ans_f1 = 0, no_ans_exact = 0, no_ans_f1 = 0;
  std::vector<std::string> missing;  // question ids without a prediction (scored 0)

  // "exact_match", "f1", and for v2.0 "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1".
  MetricMap to_metrics(Version version) const;
};

// Scores every question of the dataset; a missing prediction counts as 0 in the denominator (as
// evaluate-v1.1.py) and is listed in `missing` and logged once as a warning. Predictions for ids
// not in the dataset are ignored. The version defaults to the dataset's.
EvalResult evaluate(const Dataset& dataset, const Predictions& predictions);
EvalResult evaluate(const Dataset& dataset, const Predictions& predictions, Version version);

}  // namespace lth::tasks::squad
