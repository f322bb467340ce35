#include "tasks/squad/decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace lth::tasks::squad {

std::vector<int> top_k_indices(const std::vector<float>& values, int k) {
  std::vector<int> idx(values.size());
  std::iota(idx.begin(), idx.end(), 0);
  const std::size_t n = std::min(idx.size(), static_cast<std::size_t>(std::max(k, 0)));
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return values[a] > values[b]; });
  idx.resize(n);
  return idx;
}

namespace {

void check_feature(const FeatureLogits& f, std::size_t fi) {
  const std::size_t n = f.offsets.size();
  LTH_CHECK(f.start_logits.size() == n && f.end_logits.size() == n, ShapeError,
            "span decoding: feature {} has {} start logits, {} end logits and {} offsets", fi, f.start_logits.size(),
            f.end_logits.size(), n);
  LTH_CHECK(f.is_max_context.empty() || f.is_max_context.size() == n, ShapeError,
            "span decoding: feature {} has {} max-context flags for {} tokens", fi, f.is_max_context.size(), n);
}

// Keeps the feature's null score ([CLS] start + end) in `null_score` and `null_candidate` when it is
// the lowest so far.
void track_null(const FeatureLogits& f, std::size_t fi, int null_index, double& null_score,
                SpanCandidate& null_candidate) {
  const auto null_at = static_cast<std::size_t>(null_index);
  if (null_at >= f.offsets.size()) return;
  const double s = static_cast<double>(f.start_logits[null_at]) + f.end_logits[null_at];
  if (s < null_score) {
    null_score = s;
    null_candidate.start_logit = f.start_logits[null_at];
    null_candidate.end_logit = f.end_logits[null_at];
    null_candidate.feature = fi;
  }
}

// Appends the feature's valid spans among its top start and end indices to `candidates`.
void feature_spans(std::string_view context, const FeatureLogits& f, std::size_t fi, const DecodeOptions& options,
                   std::vector<SpanCandidate>& candidates) {
  const auto context_size = static_cast<std::int64_t>(context.size());
  auto is_context = [&](int i) {
    const auto& o = f.offsets[static_cast<std::size_t>(i)];
    if (o.first < 0 || o.second < 0) return false;
    LTH_CHECK(o.first <= o.second && o.second <= context_size, ShapeError,
              "span decoding: feature {} token {} has offsets [{}, {}) outside the context ({} bytes)", fi, i,
              o.first, o.second, context_size);
    return true;
  };
  const std::vector<int> starts = top_k_indices(f.start_logits, options.n_best_size);
  const std::vector<int> ends = top_k_indices(f.end_logits, options.n_best_size);
  for (int s : starts) {
    if (!is_context(s)) continue;
    if (!f.is_max_context.empty() && !f.is_max_context[static_cast<std::size_t>(s)]) continue;
    for (int e : ends) {
      if (!is_context(e) || e < s || e - s + 1 > options.max_answer_length) continue;
      SpanCandidate c;
      c.feature = fi;
      c.start_token = s;
      c.end_token = e;
      c.start_logit = f.start_logits[static_cast<std::size_t>(s)];
      c.end_logit = f.end_logits[static_cast<std::size_t>(e)];
      c.begin = f.offsets[static_cast<std::size_t>(s)].first;
      c.end = std::max(c.begin, f.offsets[static_cast<std::size_t>(e)].second);
      c.text = std::string(context.substr(static_cast<std::size_t>(c.begin), static_cast<std::size_t>(c.end - c.begin)));
      candidates.push_back(std::move(c));
    }
  }
}

// Best first, the n_best_size best (v2.0: plus the null candidate when it fell out), with softmax
// probabilities over what is kept.
void keep_n_best(std::vector<SpanCandidate>& candidates, const SpanCandidate& null_candidate, bool with_null,
                 const DecodeOptions& options) {
  const bool v2 = options.version_2_with_negative;
  if (with_null) candidates.push_back(null_candidate);
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const SpanCandidate& a, const SpanCandidate& b) { return a.score() > b.score(); });
  if (candidates.size() > static_cast<std::size_t>(options.n_best_size)) {
    const bool null_kept = std::any_of(candidates.begin(), candidates.begin() + options.n_best_size,
                                       [](const SpanCandidate& c) { return c.is_null; });
    candidates.resize(static_cast<std::size_t>(options.n_best_size));
    if (v2 && !null_kept) candidates.push_back(null_candidate);
  }
  if (candidates.empty()) return;
  const double max_score = candidates.front().score();
  double total = 0;
  for (auto& c : candidates) total += (c.probability = std::exp(c.score() - max_score));
  for (auto& c : candidates) c.probability /= total;
}

// The answer text (and v2.0's score difference) from the ranked candidates.
void choose_answer(DecodedAnswer& out, const std::vector<SpanCandidate>& candidates, const DecodeOptions& options) {
  const auto best_non_null = std::find_if(candidates.begin(), candidates.end(),
                                          [](const SpanCandidate& c) { return !c.is_null && !c.text.empty(); });
  if (!options.version_2_with_negative) {
    out.text = best_non_null != candidates.end() ? best_non_null->text : "";
  } else if (best_non_null == candidates.end()) {
    out.text = "";
    out.score_diff = std::numeric_limits<double>::infinity();
  } else {
    out.score_diff = out.null_score - best_non_null->score();
    out.text = out.score_diff > options.null_score_diff_threshold ? "" : best_non_null->text;
  }
}

}  // namespace

DecodedAnswer decode_answer(std::string_view context, const std::vector<FeatureLogits>& features,
                            const DecodeOptions& options) {
  LTH_CHECK(options.n_best_size > 0 && options.max_answer_length > 0, ConfigError,
            "span decoding: n_best_size and max_answer_length must be positive");
  DecodedAnswer out;
  out.null_score = std::numeric_limits<double>::infinity();
  SpanCandidate null_candidate;
  null_candidate.is_null = true;
  std::vector<SpanCandidate> candidates;
  for (std::size_t fi = 0; fi < features.size(); ++fi) {
    check_feature(features[fi], fi);
    track_null(features[fi], fi, options.null_index, out.null_score, null_candidate);
    feature_spans(context, features[fi], fi, options, candidates);
  }
  if (!std::isfinite(out.null_score)) out.null_score = 0;
  keep_n_best(candidates, null_candidate, options.version_2_with_negative && !features.empty(), options);
  choose_answer(out, candidates, options);
  out.n_best = std::move(candidates);
  return out;
}

}  // namespace lth::tasks::squad
