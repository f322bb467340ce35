// Entity-level precision/recall/F1 counted exactly like the CoNLL `conlleval` perl script
// (2000-04-14 version with the 2004 hyphenated-type fix, default options).
//
// A chunk starts at B after anything, at I after O (so IOB1 and IOB2 both work), at E after E/O,
// at I after E, and whenever a non-O tag's type differs from the previous tag's; it ends
// symmetrically. A chunk is correct when gold and guess start together with the same type and
// end together. Sentence boundaries end every chunk and are not tokens.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lth::tasks::ner {

struct ChunkCounts {
  std::int64_t correct = 0;  // chunks found with the right type and extent
  std::int64_t guessed = 0;  // chunks in the predictions
  std::int64_t gold = 0;     // chunks in the gold tags
  // Fractions (conlleval prints them ×100); 0 when the denominator is 0.
  double precision() const;
  double recall() const;
  double f1() const;
};

struct ConllEvalResult {
  std::int64_t tokens = 0;
  std::int64_t correct_tags = 0;  // tokens whose whole tag matches
  ChunkCounts overall;
  std::map<std::string, ChunkCounts> per_type;  // every type seen in gold or guesses
  double accuracy() const { return tokens > 0 ? static_cast<double>(correct_tags) / static_cast<double>(tokens) : 0; }
};

// Streaming form: feed tokens, call boundary() between sentences (a blank line for the script).
class ConllEvaluator {
 public:
  void add(std::string_view gold_tag, std::string_view guessed_tag);
  void boundary();
  // The counts so far, closing a chunk still open at the end.
  ConllEvalResult result() const;

 private:
  void step(std::string_view gold, std::string_view guessed, bool is_boundary);

  ConllEvalResult r_;
  bool in_correct_ = false;
  std::string last_gold_, last_guessed_, last_gold_type_, last_guessed_type_;
};

// Evaluates sentences of tags (gold and predicted must have the same shape; ShapeError otherwise).
ConllEvalResult conlleval(const std::vector<std::vector<std::string>>& gold,
                          const std::vector<std::vector<std::string>>& predicted);

}  // namespace lth::tasks::ner
