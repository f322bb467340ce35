// CoNLL-2003: the real files (statistics of Tjong Kim Sang & De Meulder 2003, Table 2), IOB1 -> IOB2,
// and conlleval's chunk counting on hand-made sequences (counts derived by hand in the comments).
#include <doctest/doctest.h>

#include <functional>

#include "core/error.h"
#include "core/file.h"
#include "tasks/ner/conll.h"
#include "tasks/ner/conlleval.h"
#include "tests/testing.h"

using lth::testing::error_of;

using namespace lth::tasks::ner;
using Tags = std::vector<std::string>;

namespace {

std::vector<Tags> all_tags(const Corpus& c) {
  std::vector<Tags> out;
  for (const auto& s : c.sentences) out.push_back(s.tags);
  return out;
}

struct Stats {
  const char* file;
  std::size_t documents, sentences, tokens;
  std::int64_t loc, misc, org, per;
};

}  // namespace

TEST_SUITE("tasks.ner") {
  TEST_CASE("real files match the published statistics") {
    const Stats stats[] = {{"eng.train", 946, 14041, 203621, 7140, 3438, 6321, 6600},
                           {"eng.testa", 216, 3250, 51362, 1837, 922, 1341, 1842},
                           {"eng.testb", 231, 3453, 46435, 1668, 702, 1661, 1617}};
    for (const Stats& s : stats) {
      CAPTURE(s.file);
      Corpus c = read_conll2003(lth::testing::shared_dir() + "/data/conll2003/" + s.file);
      CHECK(c.num_documents == s.documents);
      CHECK(c.sentences.size() == s.sentences);
      CHECK(c.num_tokens() == s.tokens);
      const ConllEvalResult r = conlleval(all_tags(c), all_tags(c));
      CHECK(r.per_type.at("LOC").gold == s.loc);
      CHECK(r.per_type.at("MISC").gold == s.misc);
      CHECK(r.per_type.at("ORG").gold == s.org);
      CHECK(r.per_type.at("PER").gold == s.per);
      CHECK(r.overall.f1() == 1.0);
      CHECK(r.tokens == static_cast<std::int64_t>(s.tokens));
      // IOB1 -> IOB2 keeps every chunk.
      const auto before = all_tags(c);
      convert_to_iob2(c);
      const ConllEvalResult r2 = conlleval(all_tags(c), before);
      CHECK(r2.overall.correct == r.overall.gold);
      CHECK(r2.overall.guessed == r.overall.gold);
      for (const auto& sent : c.sentences)
        for (std::size_t i = 0; i < sent.tags.size(); ++i)
          if (sent.tags[i][0] == 'I') REQUIRE(sent.tags[i - 1].substr(1) == sent.tags[i].substr(1));
    }
    const Corpus testa = read_conll2003(lth::testing::shared_dir() + "/data/conll2003/eng.testa");
    const Sentence& first = testa.sentences.front();
    CHECK(first.words.front() == "CRICKET");
    CHECK(first.tags[2] == "I-ORG");
    CHECK(first.pos[2] == "NNP");
    CHECK(first.chunks[2] == "I-NP");
    CHECK(first.line == 3);
    // IOB1 labels as found (testa has B- only for MISC); after IOB2 conversion all nine appear.
    CHECK(label_list(testa) == Tags{"O", "I-LOC", "B-MISC", "I-MISC", "I-ORG", "I-PER"});
    Corpus testa2 = testa;
    convert_to_iob2(testa2);
    CHECK(label_list(testa2) ==
          Tags{"O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"});
  }

  TEST_CASE("IOB1 to IOB2") {
    CHECK(iob1_to_iob2({"I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG", "I-MISC"}) ==
          Tags{"B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG", "B-MISC"});
    CHECK(iob1_to_iob2({}).empty());
    CHECK(iob1_to_iob2({"O", "B-X", "I-X"}) == Tags{"O", "B-X", "I-X"});
  }

  TEST_CASE("conlleval counts IOB1 quirks like the perl script") {
    // gold chunks: PER 0-1, LOC 3, LOC 4 (B- after I-LOC), ORG 6, MISC 7 (type change)  -> 5
    // guessed:     PER 0-1, LOC 3-4, ORG 5-6 (I- after I-LOC of another type), MISC 7   -> 4
    // correct:     PER 0-1 and MISC 7                                                   -> 2
    const Tags gold{"I-PER", "I-PER", "O", "I-LOC", "B-LOC", "O", "I-ORG", "I-MISC"};
    const Tags pred{"B-PER", "I-PER", "O", "I-LOC", "I-LOC", "I-ORG", "I-ORG", "I-MISC"};
    const ConllEvalResult r = conlleval({gold}, {pred});
    CHECK(r.overall.gold == 5);
    CHECK(r.overall.guessed == 4);
    CHECK(r.overall.correct == 2);
    CHECK(r.tokens == 8);
    CHECK(r.correct_tags == 5);  // tokens 1, 2, 3, 6, 7 (B-PER != I-PER as a tag)
    CHECK(r.overall.precision() == doctest::Approx(0.5));
    CHECK(r.overall.recall() == doctest::Approx(0.4));
    CHECK(r.overall.f1() == doctest::Approx(0.4 / 0.9));
    CHECK(r.per_type.at("PER").correct == 1);
    CHECK(r.per_type.at("LOC").gold == 2);
    CHECK(r.per_type.at("LOC").guessed == 1);
    CHECK(r.per_type.at("LOC").correct == 0);
    CHECK(r.per_type.at("ORG").correct == 0);
    CHECK(r.per_type.at("MISC").f1() == 1.0);
  }

  TEST_CASE("conlleval: sentence boundaries end chunks, streaming closes the last one") {
    // Same tags across a boundary are two chunks.
    ConllEvalResult r = conlleval({{"I-PER"}, {"I-PER"}}, {{"I-PER"}, {"I-PER"}});
    CHECK(r.overall.gold == 2);
    CHECK(r.overall.correct == 2);
    // Without the boundary they are one chunk.
    ConllEvaluator ev;
    ev.add("I-PER", "I-PER");
    ev.add("I-PER", "I-PER");
    r = ev.result();
    CHECK(r.overall.gold == 1);
    CHECK(r.overall.correct == 1);  // still open at the end: counted by result()
    // A guess that ends early is wrong; one that runs on is wrong; all-O guesses score 0.
    r = conlleval({{"B-ORG", "I-ORG", "O"}}, {{"B-ORG", "O", "O"}});
    CHECK(r.overall.correct == 0);
    r = conlleval({{"B-ORG", "O"}}, {{"B-ORG", "I-ORG"}});
    CHECK(r.overall.correct == 0);
    r = conlleval({{"I-LOC", "O"}}, {{"O", "O"}});
    CHECK(r.overall.guessed == 0);
    CHECK(r.overall.precision() == 0.0);
    CHECK(r.overall.f1() == 0.0);
    CHECK(r.accuracy() == doctest::Approx(0.5));
    CHECK_THROWS_AS(conlleval({{"O"}}, {{"O", "O"}}), lth::ShapeError);
    CHECK_THROWS_AS(conlleval({{"O"}}, {}), lth::ShapeError);
  }

  TEST_CASE("malformed CoNLL files are rejected with FILE:LINE") {
    lth::testing::TempDir dir("ner-bad");
    const std::string path = dir.file("bad.conll");
    lth::write_file_atomic(path, "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ\n");
    CHECK(error_of([&] { read_conll2003(path); }) == path + ":4: expected 4 columns (word POS chunk NER), found 2");
    lth::write_file_atomic(path, "EU NNP I-NP ORG\n");
    CHECK(error_of([&] { read_conll2003(path); }).find(path + ":1: bad NER tag 'ORG'") == 0);
    lth::write_file_atomic(path, "EU NNP I-NP I-ORG\nrejects VBZ I-VP O");  // no final newline is fine
    const Corpus c = read_conll2003(path);
    CHECK(c.sentences.size() == 1);
    CHECK(c.num_documents == 0);
    CHECK(c.sentences[0].words == Tags{"EU", "rejects"});
    CHECK(error_of([&] { read_conll2003(dir.file("nope")); }).find(dir.file("nope")) != std::string::npos);
  }
}
