#include "tasks/ner/conlleval.h"

#include "core/error.h"

namespace lth::tasks::ner {
namespace {

// conlleval splits "PREFIX-TYPE" at the first '-'; a tag without '-' has the empty type.
// (Perl also treats the type "0" as empty, which we reproduce.)
void split_tag(std::string_view tag, std::string& prefix, std::string& type) {
  const std::size_t dash = tag.find('-');
  if (dash == std::string_view::npos) {
    prefix.assign(tag);
    type.clear();
  } else {
    prefix.assign(tag.substr(0, dash));
    type.assign(tag.substr(dash + 1));
  }
  if (type == "0") type.clear();
}

bool end_of_chunk(const std::string& prev, const std::string& tag, const std::string& prev_type,
                  const std::string& type) {
  if (prev == "B" && (tag == "B" || tag == "O")) return true;
  if (prev == "I" && (tag == "B" || tag == "O")) return true;
  if (prev == "E" && (tag == "E" || tag == "I" || tag == "O")) return true;
  if (prev != "O" && prev != "." && prev_type != type) return true;
  return prev == "]" || prev == "[";
}

bool start_of_chunk(const std::string& prev, const std::string& tag, const std::string& prev_type,
                    const std::string& type) {
  if (tag == "B" && (prev == "B" || prev == "I" || prev == "O")) return true;
  if (prev == "O" && (tag == "I" || tag == "E")) return true;
  if (prev == "E" && (tag == "E" || tag == "I")) return true;
  if (tag != "O" && tag != "." && prev_type != type) return true;
  return tag == "[" || tag == "]";
}

double ratio(std::int64_t a, std::int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

}  // namespace

double ChunkCounts::precision() const { return ratio(correct, guessed); }
double ChunkCounts::recall() const { return ratio(correct, gold); }
double ChunkCounts::f1() const {
  const double p = precision(), r = recall();
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

void ConllEvaluator::add(std::string_view gold_tag, std::string_view guessed_tag) {
  step(gold_tag, guessed_tag, false);
}

void ConllEvaluator::boundary() { step("O", "O", true); }

void ConllEvaluator::step(std::string_view gold_tag, std::string_view guessed_tag, bool is_boundary) {
  std::string gold, gold_type, guessed, guessed_type;
  split_tag(gold_tag, gold, gold_type);
  split_tag(guessed_tag, guessed, guessed_type);
  if (is_boundary) guessed = "O";

  const bool gold_end = end_of_chunk(last_gold_, gold, last_gold_type_, gold_type);
  const bool guessed_end = end_of_chunk(last_guessed_, guessed, last_guessed_type_, guessed_type);
  const bool gold_start = start_of_chunk(last_gold_, gold, last_gold_type_, gold_type);
  const bool guessed_start = start_of_chunk(last_guessed_, guessed, last_guessed_type_, guessed_type);

  if (in_correct_) {
    if (gold_end && guessed_end && last_guessed_type_ == last_gold_type_) {
      in_correct_ = false;
      ++r_.overall.correct;
      ++r_.per_type[last_gold_type_].correct;
    } else if (gold_end != guessed_end || guessed_type != gold_type) {
      in_correct_ = false;
    }
  }
  if (gold_start && guessed_start && guessed_type == gold_type) in_correct_ = true;
  if (gold_start) {
    ++r_.overall.gold;
    ++r_.per_type[gold_type].gold;
  }
  if (guessed_start) {
    ++r_.overall.guessed;
    ++r_.per_type[guessed_type].guessed;
  }
  if (!is_boundary) {
    if (gold == guessed && gold_type == guessed_type) ++r_.correct_tags;
    ++r_.tokens;
  }
  last_gold_ = std::move(gold);
  last_guessed_ = std::move(guessed);
  last_gold_type_ = std::move(gold_type);
  last_guessed_type_ = std::move(guessed_type);
}

ConllEvalResult ConllEvaluator::result() const {
  ConllEvalResult r = r_;
  if (in_correct_) {
    ++r.overall.correct;
    ++r.per_type[last_gold_type_].correct;
  }
  return r;
}

ConllEvalResult conlleval(const std::vector<std::vector<std::string>>& gold,
                          const std::vector<std::vector<std::string>>& predicted) {
  LTH_CHECK(gold.size() == predicted.size(), ShapeError, "conlleval: {} gold sentences but {} predicted",
            gold.size(), predicted.size());
  ConllEvaluator ev;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    LTH_CHECK(gold[i].size() == predicted[i].size(), ShapeError,
              "conlleval: sentence {} has {} gold tags but {} predicted", i, gold[i].size(), predicted[i].size());
    for (std::size_t j = 0; j < gold[i].size(); ++j) ev.add(gold[i][j], predicted[i][j]);
    ev.boundary();
  }
  return ev.result();
}

}  // namespace lth::tasks::ner
