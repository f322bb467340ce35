#include "tasks/squad/squad.h"

#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tasks/common/text.h"

namespace lth::tasks::squad {
namespace {

using nlohmann::json;

class Walker {
 public:
  explicit Walker(const std::string& source) : source_(source) {}

  const json& member(const json& obj, const std::string& path, const char* key) const {
    auto it = obj.find(key);
    LTH_CHECK(it != obj.end(), IoError, "{}: {}: missing key '{}'", source_, clip(path, 120), key);
    return *it;
  }
  const json& array(const json& obj, const std::string& path, const char* key) const {
    const json& v = member(obj, path, key);
    LTH_CHECK(v.is_array(), IoError, "{}: {}.{}: expected an array", source_, clip(path, 120), key);
    return v;
  }
  std::string string(const json& obj, const std::string& path, const char* key) const {
    const json& v = member(obj, path, key);
    LTH_CHECK(v.is_string(), IoError, "{}: {}.{}: expected a string", source_, clip(path, 120), key);
    return v.get<std::string>();
  }
  void object(const json& v, const std::string& path) const {
    LTH_CHECK(v.is_object(), IoError, "{}: {}: expected an object", source_, clip(path, 120));
  }
  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    LTH_FAIL(IoError, "{}: {}: {}", source_, clip(path, 120), what);
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

// Byte offset of every code point of `text`, plus text.size() at the end: answer_start lookups in
// O(1), so a paragraph with many questions costs O(context + answers), not O(context x answers).
std::vector<std::size_t> char_starts(const std::string& text) {
  std::vector<std::size_t> out;
  out.reserve(text.size() + 1);
  for (std::size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) out.push_back(i);
  out.push_back(text.size());
  return out;
}

std::vector<Answer> parse_answers(const Walker& w, const json& list, const std::string& path,
                                  const std::string& context, const std::vector<std::size_t>& starts,
                                  std::int64_t& misaligned) {
  std::vector<Answer> out;
  const std::int64_t context_chars = static_cast<std::int64_t>(starts.size()) - 1;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = fmt::format("{}[{}]", path, i);
    w.object(list[i], p);
    Answer a;
    a.text = w.string(list[i], p, "text");
    const json& start = w.member(list[i], p, "answer_start");
    if (!start.is_number_integer()) w.fail(p + ".answer_start", "expected an integer");
    a.answer_start = start.get<std::int64_t>();
    if (a.answer_start < 0 || a.answer_start > context_chars)
      w.fail(p + ".answer_start", fmt::format("{} is outside the context ({} characters)", a.answer_start,
                                              context_chars));
    const std::size_t byte = starts[static_cast<std::size_t>(a.answer_start)];
    if (byte != std::string::npos && context.compare(byte, a.text.size(), a.text) == 0) {
      a.byte_start = static_cast<std::int64_t>(byte);
    } else {
      ++misaligned;
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

std::size_t Dataset::num_questions() const {
  std::size_t n = 0;
  for (const auto& a : articles)
    for (const auto& p : a.paragraphs) n += p.qas.size();
  return n;
}

void Dataset::append(Dataset other) {
  std::set<std::string> ids;
  for (const auto& a : articles)
    for (const auto& p : a.paragraphs)
      for (const auto& q : p.qas) ids.insert(q.id);
  for (const auto& a : other.articles)
    for (const auto& p : a.paragraphs)
      for (const auto& q : p.qas)
        LTH_CHECK(ids.insert(q.id).second, ConfigError, "SQuAD: question id {} occurs in both datasets", q.id);
  if (other.version == Version::kV2_0) version = Version::kV2_0;
  misaligned_answers += other.misaligned_answers;
  for (auto& a : other.articles) articles.push_back(std::move(a));
}

Dataset parse_dataset(const json& root, const std::string& source) {
  const Walker w(source);
  w.object(root, "(root)");
  Dataset ds;
  if (auto it = root.find("version"); it != root.end()) {
    if (!it->is_string()) w.fail("version", "expected a string");
    ds.version_string = it->get<std::string>();
  }
  bool v2 = ds.version_string.find("2.") != std::string::npos;
  std::set<std::string> ids;
  const json& data = w.array(root, "(root)", "data");
  for (std::size_t ai = 0; ai < data.size(); ++ai) {
    const std::string ap = fmt::format("data[{}]", ai);
    w.object(data[ai], ap);
    Article article;
    if (auto it = data[ai].find("title"); it != data[ai].end() && it->is_string()) article.title = it->get<std::string>();
    const json& paragraphs = w.array(data[ai], ap, "paragraphs");
    for (std::size_t pi = 0; pi < paragraphs.size(); ++pi) {
      const std::string pp = fmt::format("{}.paragraphs[{}]", ap, pi);
      w.object(paragraphs[pi], pp);
      Paragraph paragraph;
      paragraph.context = w.string(paragraphs[pi], pp, "context");
      const std::vector<std::size_t> starts = char_starts(paragraph.context);
      const json& qas = w.array(paragraphs[pi], pp, "qas");
      for (std::size_t qi = 0; qi < qas.size(); ++qi) {
        const std::string qp = fmt::format("{}.qas[{}]", pp, qi);
        w.object(qas[qi], qp);
        Question q;
        q.id = w.string(qas[qi], qp, "id");
        q.question = w.string(qas[qi], qp, "question");
        if (!ids.insert(q.id).second) w.fail(qp + ".id", fmt::format("duplicate question id '{}'", clip(q.id)));
        if (auto it = qas[qi].find("is_impossible"); it != qas[qi].end()) {
          if (!it->is_boolean()) w.fail(qp + ".is_impossible", "expected true or false");
          q.is_impossible = it->get<bool>();
          v2 = true;
        }
        q.answers = parse_answers(w, w.array(qas[qi], qp, "answers"), qp + ".answers", paragraph.context, starts,
                                  ds.misaligned_answers);
        if (auto it = qas[qi].find("plausible_answers"); it != qas[qi].end()) {
          if (!it->is_array()) w.fail(qp + ".plausible_answers", "expected an array");
          q.plausible_answers =
              parse_answers(w, *it, qp + ".plausible_answers", paragraph.context, starts, ds.misaligned_answers);
        }
        if (!q.is_impossible && q.answers.empty()) w.fail(qp + ".answers", "an answerable question has no answers");
        paragraph.qas.push_back(std::move(q));
      }
      article.paragraphs.push_back(std::move(paragraph));
    }
    ds.articles.push_back(std::move(article));
  }
  ds.version = v2 ? Version::kV2_0 : Version::kV1_1;
  return ds;
}

Dataset read_dataset(const std::string& path) { return parse_dataset(read_json_file(path), path); }

Predictions read_predictions(const std::string& path) {
  const json root = read_json_file(path);
  LTH_CHECK(root.is_object(), IoError, "{}: expected a JSON object of question id -> answer text", path);
  Predictions out;
  for (auto it = root.begin(); it != root.end(); ++it) {
    LTH_CHECK(it.value().is_string(), IoError, "{}: prediction for '{}' is not a string", path, clip(it.key()));
    out.emplace(it.key(), it.value().get<std::string>());
  }
  return out;
}

void write_predictions(const std::string& path, const Predictions& predictions) {
  json root = json::object();
  for (const auto& [id, text] : predictions) root[id] = text;
  write_file_atomic(path, root.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

}  // namespace lth::tasks::squad
