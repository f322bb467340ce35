#include "tasks/ner/conll.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "tasks/common/text.h"

namespace lth::tasks::ner {
namespace {

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool valid_tag(std::string_view tag) {
  if (tag == "O") return true;
  return tag.size() > 2 && (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-';
}

std::string_view type_of(std::string_view tag) { return tag.size() > 2 ? tag.substr(2) : std::string_view(); }

}  // namespace

std::size_t Corpus::num_tokens() const {
  std::size_t n = 0;
  for (const auto& s : sentences) n += s.words.size();
  return n;
}

Corpus read_conll2003(const std::string& path) {
  const std::string content = read_file(path);
  Corpus corpus;
  Sentence current;
  auto flush = [&] {
    if (!current.words.empty()) corpus.sentences.push_back(std::move(current));
    current = Sentence{};
  };
  for (const Line& line : split_lines(content)) {
    const auto f = split_fields(line.text);
    if (f.empty()) {
      flush();
      continue;
    }
    if (f[0] == "-DOCSTART-") {
      flush();
      ++corpus.num_documents;
      continue;
    }
    LTH_CHECK(f.size() == 4, IoError, "{}:{}: expected 4 columns (word POS chunk NER), found {}", path, line.number,
              f.size());
    LTH_CHECK(valid_tag(f[3]), IoError, "{}:{}: bad NER tag '{}' (expected O, B-TYPE or I-TYPE)", path, line.number,
              clip(f[3]));
    if (current.words.empty()) {
      current.line = line.number;
      current.document = corpus.num_documents > 0 ? corpus.num_documents - 1 : 0;
    }
    current.words.emplace_back(f[0]);
    current.pos.emplace_back(f[1]);
    current.chunks.emplace_back(f[2]);
    current.tags.emplace_back(f[3]);
  }
  flush();
  return corpus;
}

std::vector<std::string> label_list(const Corpus& corpus) {
  std::set<std::string> tags;
  for (const auto& s : corpus.sentences) tags.insert(s.tags.begin(), s.tags.end());
  tags.erase("O");
  std::vector<std::string> out(tags.begin(), tags.end());
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    const auto ta = type_of(a), tb = type_of(b);
    return ta != tb ? ta < tb : a < b;  // "B-" < "I-"
  });
  out.insert(out.begin(), "O");
  return out;
}

std::vector<std::string> iob1_to_iob2(const std::vector<std::string>& tags) {
  std::vector<std::string> out(tags);
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (tags[i].size() < 2 || tags[i].compare(0, 2, "I-") != 0) continue;
    const bool continues = i > 0 && tags[i - 1] != "O" && type_of(tags[i - 1]) == type_of(tags[i]);
    if (!continues) out[i] = "B-" + std::string(type_of(tags[i]));
  }
  return out;
}

void convert_to_iob2(Corpus& corpus) {
  for (auto& s : corpus.sentences) s.tags = iob1_to_iob2(s.tags);
}

}  // namespace lth::tasks::ner
