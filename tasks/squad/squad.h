// SQuAD v1.1 / v2.0: dataset reader with validation, and predictions.json (id -> answer text).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lth::tasks::squad {

enum class Version { kV1_1, kV2_0 };

struct Answer {
  std::string text;
  std::int64_t answer_start = 0;  // in code points, as in the file (Python string index)
  std::int64_t byte_start = -1;   // UTF-8 byte offset into the context; -1 when the text is not there
};

struct Question {
  std::string id;
  std::string question;
  std::vector<Answer> answers;            // empty for impossible questions (v2.0)
  bool is_impossible = false;
  std::vector<Answer> plausible_answers;  // v2.0 impossible questions only
};

struct Paragraph {
  std::string context;
  std::vector<Question> qas;
};

struct Article {
  std::string title;
  std::vector<Paragraph> paragraphs;
};

struct Dataset {
  std::string version_string;  // the file's "version" ("1.1", "v2.0"), or "" when absent
  Version version = Version::kV1_1;  // v2.0 when the version says so or any question has is_impossible
  std::vector<Article> articles;
  std::int64_t misaligned_answers = 0;  // answers whose text is not at answer_start in the context

  std::size_t num_questions() const;
  // Appends another dataset's articles (e.g. the two halves of the dev set); ids must stay unique.
  void append(Dataset other);
};

// Reads a SQuAD JSON file. Throws IoError naming the file and the JSON path of a bad element, e.g.
// "dev.json: data[3].paragraphs[0].qas[2].answers[0].answer_start: expected an integer", and
// for duplicate question ids or answerable questions without answers.
Dataset read_dataset(const std::string& path);
// The same from parsed JSON; `source` names it in messages.
Dataset parse_dataset(const nlohmann::json& root, const std::string& source);

// question id -> predicted answer text ("" = no answer, for v2.0).
using Predictions = std::map<std::string, std::string>;

// Reads predictions.json; IoError when it is not an object of strings (naming the key).
Predictions read_predictions(const std::string& path);
// Writes predictions.json atomically (UTF-8, keys sorted).
void write_predictions(const std::string& path, const Predictions& predictions);

}  // namespace lth::tasks::squad
