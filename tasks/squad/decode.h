// Span decoding for extractive QA: per-feature start/end logits -> n-best answer spans -> text,
// with the SQuAD v2.0 null-score threshold. Pure logic on plain vectors (no tokenizer, no torch);
// the featurizer supplies, per feature (one doc-stride window), the logits and each token's
// byte range in the context.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lth::tasks::squad {

// Offsets of a token that is not part of the context (question, [CLS], [SEP], padding).
inline constexpr std::pair<std::int64_t, std::int64_t> kNotContext{-1, -1};

struct FeatureLogits {
  std::vector<float> start_logits;
  std::vector<float> end_logits;
  // Per token: [begin, end) byte range in the context, or kNotContext.
  std::vector<std::pair<std::int64_t, std::int64_t>> offsets;
  // Optional, per token: whether this window is the token's "max context" window (Google BERT's
  // doc-stride rule). Empty = every token counts. Only the start token is checked.
  std::vector<bool> is_max_context;
};

struct DecodeOptions {
  int n_best_size = 20;          // top start and end indices tried, and candidates kept
  int max_answer_length = 30;    // in tokens
  bool version_2_with_negative = false;
  double null_score_diff_threshold = 0.0;  // answer "" when null - best non-null > threshold
  int null_index = 0;                      // the [CLS] token whose logits score "no answer"
};

struct SpanCandidate {
  std::string text;  // "" for the null candidate
  double start_logit = 0;
  double end_logit = 0;
  double probability = 0;  // softmax of the scores over the kept candidates
  std::size_t feature = 0;
  int start_token = -1, end_token = -1;  // -1 for the null candidate
  std::int64_t begin = -1, end = -1;     // byte range in the context
  bool is_null = false;
  double score() const { return start_logit + end_logit; }
};

struct DecodedAnswer {
  std::string text;  // the prediction ("" = no answer for v2.0)
  std::vector<SpanCandidate> n_best;  // best first
  double null_score = 0;  // min over features of start[null]+end[null]
  double score_diff = 0;  // v2.0: null_score - best non-null score
};

// Decodes one question's answer from all its features. Candidates: for every feature, the
// n_best_size highest start and end indices; spans are dropped when either end is not context,
// the start is not max-context, end < start, or longer than max_answer_length. Ties keep the
// lower index first. With no valid span the answer is "" (Hugging Face writes "empty").
// Throws ShapeError when a feature's vectors differ in length or an offset lies outside `context`.
DecodedAnswer decode_answer(std::string_view context, const std::vector<FeatureLogits>& features,
                            const DecodeOptions& options = {});

// Indices of the k largest values, largest first; equal values keep index order.
std::vector<int> top_k_indices(const std::vector<float>& values, int k);

}  // namespace lth::tasks::squad
