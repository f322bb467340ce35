// Training features of the tasks, checked against truth computed here from the tokenizer alone:
// SQuAD's doc-stride windows (layout, coverage of the context, answer targets) and MLM masking
// (rates, the 80/10/10 split, special tokens never chosen, whole words).
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/file.h"
#include "tasks/squad/squad.h"
#include "tasks/task.h"
#include "tests/testing.h"
#include "tokenize/tokenizer.h"

namespace lt = lth::testing;
using lth::train::Feature;

namespace {

std::shared_ptr<const lth::tokenize::Tokenizer> uncased() {
  return lth::tokenize::load_tokenizer(lt::shared_dir() + "/data/vocab/bert-base-uncased");
}

std::vector<int32_t> ids_of(const std::vector<lth::tokenize::Piece>& pieces) {
  std::vector<int32_t> out;
  for (const auto& p : pieces) out.push_back(static_cast<int32_t>(p.id));
  return out;
}

// Where `part` occurs in `whole`: every start index.
std::vector<std::size_t> occurrences(const std::vector<int32_t>& whole, const std::vector<int32_t>& part) {
  std::vector<std::size_t> at;
  if (part.empty() || part.size() > whole.size()) return at;
  for (std::size_t i = 0; i + part.size() <= whole.size(); ++i)
    if (std::equal(part.begin(), part.end(), whole.begin() + static_cast<std::ptrdiff_t>(i))) at.push_back(i);
  return at;
}

}  // namespace

TEST_SUITE("tasks.features") {
  TEST_CASE("SQuAD training windows: [CLS] q [SEP] context [SEP], overlapping, covering the context, spanning answers") {
    lt::TempDir tmp("squad-windows");
    // The first paragraphs of the first articles of a real dev part, as a training file.
    const auto full = lth::read_json_file(lt::shared_dir() + "/data/squad/v1.1/dev-v1.1.part-a.json");
    nlohmann::json head = {{"version", full["version"]}, {"data", nlohmann::json::array()}};
    for (std::size_t a = 0; a < 3; ++a) {
      nlohmann::json article = full["data"][a];
      article["paragraphs"] = nlohmann::json(
          std::vector<nlohmann::json>(article["paragraphs"].begin(), article["paragraphs"].begin() + 2));
      head["data"].push_back(article);
    }
    const std::string train = tmp.file("train.json");
    lth::write_file_atomic(train, head.dump());

    const auto tok = uncased();
    lth::tasks::TaskOptions o;
    o.train_file = train;
    o.max_length = 48;
    o.doc_stride = 12;
    o.max_query_length = 12;
    auto task = lth::tasks::make_task("squad/v1.1", o, tok);
    const std::vector<Feature> features = task->train_features(57);

    const auto dataset = lth::tasks::squad::read_dataset(train);
    const int32_t cls = static_cast<int32_t>(tok->cls_id()), sep = static_cast<int32_t>(tok->sep_id());
    std::size_t f = 0, questions = 0, answered_windows = 0;
    for (const auto& article : dataset.articles) {
      for (const auto& paragraph : article.paragraphs) {
        const auto context = tok->tokenize_with_offsets(paragraph.context);
        const auto context_ids = ids_of(context);
        for (const auto& q : paragraph.qas) {
          CAPTURE(q.id);
          REQUIRE(!q.answers.empty());
          const auto& answer = q.answers.front();
          if (answer.byte_start < 0) continue;  // not trainable (lth skips it with a warning)
          ++questions;
          // The answer's tokens: those whose byte range meets [byte_start, byte_start + size).
          const auto a_begin = answer.byte_start;
          const auto a_end = answer.byte_start + static_cast<int64_t>(answer.text.size());
          int64_t first = -1, last = -1;
          for (std::size_t t = 0; t < context.size(); ++t) {
            if (context[t].end > a_begin && context[t].begin < a_end) {
              if (first < 0) first = static_cast<int64_t>(t);
              last = static_cast<int64_t>(t);
            }
          }
          REQUIRE(first >= 0);
          const auto q_ids = ids_of(tok->tokenize_with_offsets(q.question));
          // This question's windows: consecutive features, the first one starting the context.
          std::size_t covered = 0, windows = 0, containing = 0;
          int64_t previous_begin = -1;
          while (f < features.size()) {
            const Feature& w = features[f];
            REQUIRE(static_cast<int64_t>(w.input_ids.size()) <= o.max_length);
            REQUIRE(w.token_type_ids.size() == w.input_ids.size());
            // [CLS] question (cut) [SEP] context slice [SEP]; token types 0 then 1.
            const auto sep_at = std::find(w.input_ids.begin(), w.input_ids.end(), sep) - w.input_ids.begin();
            REQUIRE(w.input_ids.front() == cls);
            REQUIRE(w.input_ids.back() == sep);
            REQUIRE(sep_at >= 2);
            const std::vector<int32_t> q_part(w.input_ids.begin() + 1, w.input_ids.begin() + sep_at);
            REQUIRE(q_part.size() <= q_ids.size());
            CHECK(std::equal(q_part.begin(), q_part.end(), q_ids.begin()));
            for (std::size_t t = 0; t < w.input_ids.size(); ++t)
              CHECK(w.token_type_ids[t] == (static_cast<int64_t>(t) > sep_at ? 1 : 0));
            const std::vector<int32_t> slice(w.input_ids.begin() + sep_at + 1, w.input_ids.end() - 1);
            const auto at = occurrences(context_ids, slice);
            REQUIRE_MESSAGE(at.size() >= 1, "window " << f << " is not a piece of its context");
            // A later window of one question never starts at 0: this is the next question's first.
            if (windows > 0 && at.front() == 0) break;
            // Ambiguous only for repeated text: take the first start after the previous window's.
            auto it = std::find_if(at.begin(), at.end(), [&](std::size_t s) { return static_cast<int64_t>(s) > previous_begin; });
            if (windows == 0) {
              if (at.front() != 0) break;  // a window of another question would start at 0 too
              it = at.begin();
            }
            REQUIRE(it != at.end());
            const auto begin = static_cast<int64_t>(*it);
            const auto end = begin + static_cast<int64_t>(slice.size());  // exclusive
            if (windows > 0) CHECK(begin < static_cast<int64_t>(covered));  // overlaps the previous window
            CHECK(begin <= static_cast<int64_t>(covered));  // no context token is left out
            covered = std::max<std::size_t>(covered, static_cast<std::size_t>(end));
            previous_begin = begin;
            // The target: the answer's tokens when wholly inside, else [CLS] (0, 0).
            const int64_t offset = sep_at + 1 - begin;  // feature position of context token t = t + offset
            if (first >= begin && last < end) {
              ++containing;
              CHECK(w.start == first + offset);
              CHECK(w.end == last + offset);
              CHECK(w.start <= w.end);
            } else {
              CHECK(w.start == 0);
              CHECK(w.end == 0);
            }
            ++windows;
            ++f;
            if (covered == context.size()) break;
          }
          CHECK(windows >= 1);
          CHECK(covered == context.size());  // the windows together hold the whole context
          CHECK(containing >= 1);            // short answers always fit some window
          answered_windows += containing;
        }
      }
    }
    CHECK(f == features.size());  // every feature belongs to a question, in order
    CHECK(questions > 20);
    CHECK(features.size() > 2 * questions);  // long contexts really were cut into several windows
    MESSAGE(questions << " questions, " << features.size() << " windows, " << answered_windows << " holding the answer");
  }

  TEST_CASE("MLM masking: 15% of non-special tokens, 80% [MASK] / 10% random / 10% kept, labels the originals") {
    lt::TempDir tmp("mlm-mask");
    {
      std::ofstream text(tmp.file("corpus.txt"));
      for (int i = 0; i < 1000; ++i)
        text << "the committee met on day " << i << " and discussed unbelievable reorganisations of the library .\n";
    }
    const auto tok = uncased();
    for (const bool whole_words : {false, true}) {
      CAPTURE(whole_words);
      lth::tasks::TaskOptions o;
      o.texts = {tmp.file("corpus.txt")};
      o.max_length = 40;
      o.whole_word_masking = whole_words;
      auto task = lth::tasks::make_task("mlm", o, tok);
      const auto features = task->train_features(57);
      REQUIRE(features.size() > 100);
      // Pad the last rows (shorter copies) so that padding is present too.
      std::vector<Feature> rows = features;
      for (std::size_t i = 0; i < 8; ++i) {
        Feature shortened = features[i];
        shortened.input_ids.resize(10);
        shortened.input_ids.back() = static_cast<int32_t>(tok->sep_id());
        shortened.token_type_ids.resize(10);
        rows.push_back(shortened);
      }
      std::vector<int64_t> all(rows.size());
      std::iota(all.begin(), all.end(), 0);
      auto batch = lth::train::collate(rows, all, lth::train::LabelKind::kPerToken, tok->pad_id());
      const auto original = batch.input_ids.clone();
      const auto transform = task->batch_transform(57);
      REQUIRE(transform != nullptr);
      transform(batch, 3);
      const auto ids = batch.input_ids;
      const auto labels = batch.labels;
      const auto chosen = labels.ne(-100);
      const auto special = original.eq(tok->cls_id()) | original.eq(tok->sep_id()) | original.eq(tok->pad_id()) |
                           batch.attention_mask.eq(0);
      // Never a special token or padding; where not chosen, the input is untouched.
      CHECK(chosen.logical_and(special).sum().item<int64_t>() == 0);
      CHECK(torch::equal(ids.masked_select(chosen.logical_not()), original.masked_select(chosen.logical_not())));
      // Labels hold the original tokens.
      CHECK(torch::equal(labels.masked_select(chosen), original.masked_select(chosen)));
      const double eligible = static_cast<double>(special.logical_not().sum().item<int64_t>());
      const double n = static_cast<double>(chosen.sum().item<int64_t>());
      const double masked = static_cast<double>((chosen & ids.eq(tok->mask_id())).sum().item<int64_t>());
      const double kept = static_cast<double>((chosen & ids.eq(original)).sum().item<int64_t>());
      const double random = n - masked - kept;
      // ~10^4 eligible tokens: 15% +- 1.5 points is > 4 standard deviations (whole words: the
      // choice is per word, so the share of tokens moves with word lengths; checked per word below).
      if (!whole_words) CHECK(n / eligible == doctest::Approx(0.15).epsilon(0.1));
      CHECK(masked / n == doctest::Approx(0.8).epsilon(0.04));
      CHECK(kept / n == doctest::Approx(0.1).epsilon(0.25));
      CHECK(random / n == doctest::Approx(0.1).epsilon(0.25));
      CHECK(ids.lt(0).sum().item<int64_t>() == 0);
      CHECK(ids.ge(tok->vocab_size()).sum().item<int64_t>() == 0);
      // Whole words: a continuation piece (##x) is chosen exactly when its word's first piece is.
      int64_t words = 0, chosen_words = 0, continuation_checks = 0;
      auto o_acc = original.accessor<int64_t, 2>();
      auto c_acc = chosen.accessor<bool, 2>();
      auto s_acc = special.accessor<bool, 2>();
      for (int64_t r = 0; r < original.size(0); ++r) {
        bool word_chosen = false;
        for (int64_t c = 0; c < original.size(1); ++c) {
          if (s_acc[r][c]) continue;
          const std::string piece = tok->id_to_token(o_acc[r][c]);
          const bool continuation = piece.size() > 2 && piece.rfind("##", 0) == 0;
          if (!continuation) {
            ++words;
            word_chosen = c_acc[r][c];
            chosen_words += word_chosen;
          } else if (whole_words) {
            ++continuation_checks;
            CHECK(c_acc[r][c] == word_chosen);
          }
        }
      }
      if (whole_words) {
        CHECK(continuation_checks > 100);  // "unbelievable", "reorganisations" are split
        CHECK(static_cast<double>(chosen_words) / static_cast<double>(words) == doctest::Approx(0.15).epsilon(0.1));
      }
      // Deterministic per step, different across steps.
      auto again = lth::train::collate(rows, all, lth::train::LabelKind::kPerToken, tok->pad_id());
      transform(again, 3);
      CHECK(torch::equal(again.input_ids, ids));
      auto other = lth::train::collate(rows, all, lth::train::LabelKind::kPerToken, tok->pad_id());
      transform(other, 4);
      CHECK_FALSE(torch::equal(other.labels, labels));
    }
  }
}
