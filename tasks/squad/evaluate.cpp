#include "tasks/squad/evaluate.h"

#include <algorithm>
#include <unordered_map>

#include "core/log.h"
#include "tasks/common/text.h"

namespace lth::tasks::squad {
namespace {

bool is_ascii_punctuation(char32_t c) {
  // Python's string.punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

bool is_word_char(char32_t c) { return c == U'_' || py_isalnum(c); }

bool is_article(std::u32string_view w) { return w == U"a" || w == U"an" || w == U"the"; }

}  // namespace

std::string normalize_answer(std::string_view s) {
  const std::u32string lowered = py_lower(utf8_decode(s));
  std::u32string no_punct;
  no_punct.reserve(lowered.size());
  for (char32_t c : lowered)
    if (!is_ascii_punctuation(c)) no_punct.push_back(c);
  // Whole words a/an/the -> " ": a maximal run of word characters is a word for \b...\b.
  std::u32string no_articles;
  no_articles.reserve(no_punct.size());
  std::size_t i = 0;
  while (i < no_punct.size()) {
    if (!is_word_char(no_punct[i])) {
      no_articles.push_back(no_punct[i++]);
      continue;
    }
    std::size_t j = i;
    while (j < no_punct.size() && is_word_char(no_punct[j])) ++j;
    const std::u32string_view word(no_punct.data() + i, j - i);
    if (is_article(word)) {
      no_articles.push_back(U' ');
    } else {
      no_articles.append(word);
    }
    i = j;
  }
  std::string out;
  bool pending_space = false;
  for (char32_t c : no_articles) {
    if (py_isspace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    utf8_append(out, c);
  }
  return out;
}

std::vector<std::string> answer_tokens(std::string_view s) { return py_split(normalize_answer(s)); }

bool exact_match(std::string_view prediction, std::string_view gold) {
  return normalize_answer(prediction) == normalize_answer(gold);
}

double f1_score(std::string_view prediction, std::string_view gold, Version version) {
  const std::vector<std::string> p = answer_tokens(prediction);
  const std::vector<std::string> g = answer_tokens(gold);
  if (version == Version::kV2_0 && (p.empty() || g.empty())) return p.empty() && g.empty() ? 1.0 : 0.0;
  std::unordered_map<std::string, std::int64_t> counts;
  for (const auto& t : g) ++counts[t];
  std::int64_t same = 0;
  for (const auto& t : p) {
    auto it = counts.find(t);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(p.size());
  const double recall = static_cast<double>(same) / static_cast<double>(g.size());
  return 2 * precision * recall / (precision + recall);
}

std::vector<std::string> gold_answers(const Question& q, Version version) {
  std::vector<std::string> out;
  for (const auto& a : q.answers)
    if (version == Version::kV1_1 || !normalize_answer(a.text).empty()) out.push_back(a.text);
  if (version == Version::kV2_0 && out.empty()) out.push_back("");
  return out;
}

MetricMap EvalResult::to_metrics(Version version) const {
  MetricMap m{{"exact_match", exact_match}, {"f1", f1}};
  if (version == Version::kV2_0) {
    if (has_ans_total > 0) {
      m["HasAns_exact"] = has_ans_exact;
      m["HasAns_f1"] = has_ans_f1;
    }
    if (no_ans_total > 0) {
      m["NoAns_exact"] = no_ans_exact;
      m["NoAns_f1"] = no_ans_f1;
    }
  }
  return m;
}

EvalResult evaluate(const Dataset& dataset, const Predictions& predictions) {
  return evaluate(dataset, predictions, dataset.version);
}

EvalResult evaluate(const Dataset& dataset, const Predictions& predictions, Version version) {
  EvalResult r;
  double em_sum = 0, f1_sum = 0, has_em = 0, has_f1 = 0, no_em = 0, no_f1 = 0;
  for (const auto& article : dataset.articles) {
    for (const auto& paragraph : article.paragraphs) {
      for (const auto& q : paragraph.qas) {
        ++r.total;
        const bool has_answer = !q.answers.empty();  // the official qid_to_has_ans
        (has_answer ? r.has_ans_total : r.no_ans_total) += 1;
        auto it = predictions.find(q.id);
        if (it == predictions.end()) {
          r.missing.push_back(q.id);
          continue;
        }
        double em = 0, f1 = 0;
        for (const auto& gold : gold_answers(q, version)) {
          em = std::max(em, exact_match(it->second, gold) ? 1.0 : 0.0);
          f1 = std::max(f1, f1_score(it->second, gold, version));
        }
        em_sum += em;
        f1_sum += f1;
        (has_answer ? has_em : no_em) += em;
        (has_answer ? has_f1 : no_f1) += f1;
      }
    }
  }
  auto pct = [](double sum, std::int64_t n) { return n > 0 ? 100.0 * sum / static_cast<double>(n) : 0.0; };
  r.exact_match = pct(em_sum, r.total);
  r.f1 = pct(f1_sum, r.total);
  r.has_ans_exact = pct(has_em, r.has_ans_total);
  r.has_ans_f1 = pct(has_f1, r.has_ans_total);
  r.no_ans_exact = pct(no_em, r.no_ans_total);
  r.no_ans_f1 = pct(no_f1, r.no_ans_total);
  if (!r.missing.empty())
    log::warn("squad", "{} of {} questions have no prediction and score 0 (first: {})", r.missing.size(), r.total,
              r.missing.front());
  return r;
}

}  // namespace lth::tasks::squad
