// CoNLL-2003 NER files (eng.train/testa/testb): one token per line "word POS chunk NER",
// "-DOCSTART- -X- -X- O" starting each document, blank lines between sentences. Tags are IOB1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lth::tasks::ner {

struct Sentence {
  std::vector<std::string> words;
  std::vector<std::string> pos;
  std::vector<std::string> chunks;
  std::vector<std::string> tags;  // NER tags as in the file
  std::int64_t line = 0;          // 1-based line of the first token
  std::size_t document = 0;       // 0-based document index (-DOCSTART- count - 1)
};

struct Corpus {
  std::vector<Sentence> sentences;  // DOCSTART lines are not sentences
  std::size_t num_documents = 0;
  std::size_t num_tokens() const;
};

// Reads a CoNLL-2003 file. Columns may be separated by spaces or tabs. Throws IoError
// "FILE:LINE: expected 4 columns (word POS chunk NER), found M" and "FILE:LINE: bad NER tag 'x'"
// (tags must be O, B-TYPE or I-TYPE).
Corpus read_conll2003(const std::string& path);

// The label set found in the data: "O" first, then by entity type, B- before I-.
std::vector<std::string> label_list(const Corpus& corpus);

// IOB1 -> IOB2: an I-X that does not continue an X chunk (sentence start, after O, or after a
// different type) becomes B-X. B- tags and O stay.
std::vector<std::string> iob1_to_iob2(const std::vector<std::string>& tags);
// Converts every sentence's tags in place.
void convert_to_iob2(Corpus& corpus);

}  // namespace lth::tasks::ner
