#include <algorithm>
#include <memory>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/tokenize/tok_testing.h"
#include "tokenize/unicode.h"
#include "tokenize/wordpiece.h"

namespace tk = lth::tokenize;
using nlohmann::json;

namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

template <typename T>
std::vector<T> as_vector(const json& j) {
  return j.get<std::vector<T>>();
}

void check_encoding(const tk::Encoding& got, const json& want, const std::string& what) {
  INFO(what);
  CHECK(got.tokens == as_vector<std::string>(want["tokens"]));
  CHECK(got.input_ids == as_vector<std::int64_t>(want["input_ids"]));
  CHECK(got.token_type_ids == as_vector<std::int64_t>(want["token_type_ids"]));
  CHECK(got.attention_mask == as_vector<std::int64_t>(want["attention_mask"]));
  CHECK(got.offsets.size() == got.size());
  CHECK(got.sequence_ids.size() == got.size());
}

// What a token should match in the original text: the slice, normalised as the tokenizer does
// (NFC, lower-case + accent strip when lower-casing), compared with the token without "##".
std::string normalise_slice(const std::string& slice, bool lower) {
  namespace u = tk::unicode;
  u::Chars c = u::nfc(u::decode_utf8(slice));
  if (lower) {
    u::Chars d = u::nfd(u::to_lower(c));
    c.clear();
    for (const auto& ch : d) {
      if (!u::is_mn(ch.cp)) c.push_back(ch);
    }
  }
  return u::encode_utf8(c);
}

// Offsets: inside the text, non-decreasing, and each word piece is what its slice normalises to.
// Pieces cut out of one character (a Hangul syllable decomposes into jamo) share its range; their
// concatenation must match.
void check_offsets(const tk::Tokenizer& tok, const std::string& text, bool lower, int& checked) {
  const std::vector<tk::Piece> pieces = tok.tokenize_with_offsets(text);
  std::int64_t last_begin = 0;
  std::string joined;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const tk::Piece& p = pieces[i];
    INFO("text '" << text << "' token #" << i << " '" << p.token << "' [" << p.begin << ", " << p.end << ")");
    REQUIRE(p.begin >= 0);
    REQUIRE(p.begin < p.end);
    REQUIRE(p.end <= static_cast<std::int64_t>(text.size()));
    CHECK(p.begin >= last_begin);
    last_begin = p.begin;
    CHECK(p.id == tok.find_id(p.token));
    const std::string slice = text.substr(p.begin, p.end - p.begin);
    if (slice == p.token && (p.id == tok.cls_id() || p.id == tok.sep_id() || p.id == tok.pad_id() ||
                             p.id == tok.mask_id() || p.id == tok.unk_id())) {
      continue;  // a special token written in the text
    }
    if (p.token == tok.special_tokens().unk) continue;  // [UNK] covers its whole word
    joined += p.token.rfind("##", 0) == 0 ? p.token.substr(2) : p.token;
    const bool last_of_range = i + 1 == pieces.size() || pieces[i + 1].begin != p.begin || pieces[i + 1].end != p.end;
    if (!last_of_range) continue;
    CHECK(normalise_slice(slice, lower) == joined);
    joined.clear();
    ++checked;
  }
}

struct FixtureRun {
  int cases = 0, pairs = 0, truncated = 0, offsets = 0;
};

FixtureRun run_fixture(const std::string& model) {
  const json d = json::parse(lth::read_file(lth::testing::tokenizer_fixture(model)));
  const bool lower = d["tokenizer"]["do_lower_case"].get<bool>();
  auto tok = tk::load_wordpiece(lth::testing::vocab_path(model), lower);
  REQUIRE(tok->vocab_size() == d["tokenizer"]["vocab_size"].get<std::int64_t>());
  for (const auto& [name, id] : d["tokenizer"]["special_tokens"].items()) {
    CHECK(tok->find_id(name) == id.get<std::int64_t>());
  }
  CHECK(tok->unk_id() == 100);
  CHECK(tok->cls_id() == 101);
  CHECK(tok->sep_id() == 102);
  CHECK(tok->pad_id() == 0);
  CHECK(tok->mask_id() == 103);
  const auto* wp = dynamic_cast<const tk::WordPieceTokenizer*>(tok.get());
  REQUIRE(wp != nullptr);
  FixtureRun run;
  for (const json& c : d["cases"]) {
    const std::string text = from_hex(c["text_utf8_hex"].get<std::string>());
    const std::string id = c["id"].get<std::string>();
    INFO(model << " case " << id);
    CHECK(text == c["text"].get<std::string>());
    CHECK(tok->tokenize(text) == as_vector<std::string>(c["tokens"]));
    std::vector<std::int64_t> ids;
    for (const auto& p : tok->tokenize_with_offsets(text)) ids.push_back(p.id);
    CHECK(ids == as_vector<std::int64_t>(c["ids"]));
    if (text.find('[') == std::string::npos) {  // basic_tokens are informative around special tokens
      std::vector<std::string> basic;
      for (const auto& p : wp->basic_tokenize(text)) basic.push_back(p.token);
      CHECK(basic == as_vector<std::string>(c["basic_tokens"]));
    }
    check_encoding(tok->encode(text), c["encode"], id);
    check_offsets(*tok, text, lower, run.offsets);
    ++run.cases;
  }
  for (const json& p : d["pairs"]) {
    const std::string a = from_hex(p["text_utf8_hex"].get<std::string>());
    const std::string b = from_hex(p["text_pair_utf8_hex"].get<std::string>());
    const std::string id = p["id"].get<std::string>();
    CHECK(tok->tokenize(a) == as_vector<std::string>(p["tokens_a"]));
    CHECK(tok->tokenize(b) == as_vector<std::string>(p["tokens_b"]));
    check_encoding(tok->encode(a, &b), p["no_truncation"], model + " " + id);
    tk::EncodeOptions o16;
    o16.max_length = 16;
    const tk::Encoding e16 = tok->encode(a, &b, o16);
    check_encoding(e16, p["longest_first_max_length_16"], model + " " + id + " max 16");
    CHECK(e16.size() <= 16);
    o16.pad_to_max_length = true;
    const tk::Encoding p16 = tok->encode(a, &b, o16);
    check_encoding(p16, p["longest_first_max_length_16_pad_to_16"], model + " " + id + " max 16 padded");
    // Sequence ids and offsets line up with token types and the segments.
    for (std::size_t i = 0; i < p16.size(); ++i) {
      const bool special = p16.input_ids[i] == tok->cls_id() || p16.input_ids[i] == tok->sep_id() || p16.input_ids[i] == tok->pad_id();
      if (special && p16.sequence_ids[i] == -1) {
        CHECK(p16.offsets[i] == std::pair<std::int64_t, std::int64_t>(0, 0));
      } else {
        CHECK(p16.sequence_ids[i] == p16.token_type_ids[i]);
        const std::string& seg = p16.sequence_ids[i] == 0 ? a : b;
        CHECK(p16.offsets[i].second <= static_cast<std::int64_t>(seg.size()));
      }
    }
    check_offsets(*tok, a, lower, run.offsets);
    check_offsets(*tok, b, lower, run.offsets);
    ++run.pairs;
  }
  for (const json& t : d["truncated_single"]) {
    const std::string text = from_hex(t["text_utf8_hex"].get<std::string>());
    tk::EncodeOptions o16;
    o16.max_length = 16;
    check_encoding(tok->encode(text, nullptr, o16), t["truncation_max_length_16"], model + " truncated");
    o16.pad_to_max_length = true;
    check_encoding(tok->encode(text, nullptr, o16), t["truncation_max_length_16_pad_to_16"], model + " truncated padded");
    ++run.truncated;
  }
  return run;
}

}  // namespace

TEST_SUITE("tokenize") {
  TEST_CASE("bert-base-uncased matches transformers' BertTokenizer on every fixture case") {
    const FixtureRun r = run_fixture("bert-base-uncased");
    CHECK(r.cases == 64);
    CHECK(r.pairs == 10);
    CHECK(r.truncated == 3);
    CHECK(r.offsets > 500);
  }

  TEST_CASE("bert-base-cased matches transformers' BertTokenizer on every fixture case") {
    const FixtureRun r = run_fixture("bert-base-cased");
    CHECK(r.cases == 64);
    CHECK(r.pairs == 10);
    CHECK(r.truncated == 3);
  }

  TEST_CASE("llama.cpp's 46 bge (bert-base-uncased) golden cases") {
    const std::string dir = lth::testing::shared_dir() + "/data/vocab/bert-base-uncased/tokenizer-tests/";
    const std::string inp = lth::read_file(dir + "ggml-vocab-bert-bge.gguf.inp");
    const std::string out = lth::read_file(dir + "ggml-vocab-bert-bge.gguf.out");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    for (std::size_t pos = 0; pos < inp.size();) {
      const std::size_t at = inp.find(sep, pos);
      REQUIRE(at != std::string::npos);  // the file ends with a separator
      texts.push_back(inp.substr(pos, at - pos));
      pos = at + sep.size();
    }
    std::vector<std::vector<std::int64_t>> expected;
    for (std::size_t pos = 0; pos < out.size();) {
      std::size_t nl = out.find('\n', pos);
      if (nl == std::string::npos) nl = out.size();
      std::vector<std::int64_t> ids;
      const std::string line = out.substr(pos, nl - pos);
      for (std::size_t i = 0; i < line.size();) {
        if (line[i] == ' ') {
          ++i;
          continue;
        }
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ') ++j;
        ids.push_back(std::stoll(line.substr(i, j - i)));
        i = j;
      }
      expected.push_back(ids);
      pos = nl + 1;
    }
    REQUIRE(texts.size() == 46);
    REQUIRE(expected.size() == 46);
    auto tok = tk::load_wordpiece(lth::testing::vocab_path("bert-base-uncased"), true);
    int offsets = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      INFO("case " << i << ": '" << texts[i] << "'");
      std::vector<std::int64_t> ids;
      for (const auto& p : tok->tokenize_with_offsets(texts[i])) ids.push_back(p.id);
      CHECK(ids == expected[i]);
      check_offsets(*tok, texts[i], true, offsets);
    }
  }

  TEST_CASE("special tokens glued to text, as from_pretrained loads the tokenizer") {
    auto tok = tk::load_wordpiece(lth::testing::vocab_path("bert-base-uncased"), true);
    CHECK(tok->tokenize("a[MASK]b") == std::vector<std::string>{"a", "[MASK]", "b"});
    CHECK(tok->tokenize("x[SEP][CLS]") == std::vector<std::string>{"x", "[SEP]", "[CLS]"});
    CHECK(tok->tokenize("[Mask]") == std::vector<std::string>{"[", "mask", "]"});
    const auto pieces = tok->tokenize_with_offsets("a[MASK]b");
    REQUIRE(pieces.size() == 3);
    CHECK(pieces[1].begin == 1);
    CHECK(pieces[1].end == 7);
  }

  TEST_CASE("offsets are bytes in the API and code points through code_point_offsets") {
    auto tok = tk::load_wordpiece(lth::testing::vocab_path("bert-base-uncased"), true);
    const std::string text = "\xC3\x89" "cole \xE4\xB8\xAD" "x";  // "École 中x"
    const tk::Encoding enc = tok->encode(text);
    REQUIRE(enc.tokens == std::vector<std::string>{"[CLS]", "ecole", "\xE4\xB8\xAD", "x", "[SEP]"});
    using P = std::pair<std::int64_t, std::int64_t>;
    CHECK(enc.offsets == std::vector<P>{{0, 0}, {0, 6}, {7, 10}, {10, 11}, {0, 0}});
    CHECK(tk::code_point_offsets(enc, text) == std::vector<P>{{0, 0}, {0, 5}, {6, 7}, {7, 8}, {0, 0}});
    CHECK(enc.sequence_ids == std::vector<int>{-1, 0, 0, 0, -1});
    // Decomposed input composes under NFC (cased) and the composed character spans both code points.
    auto cased = tk::load_wordpiece(lth::testing::vocab_path("bert-base-cased"), false);
    const std::string decomposed = "e\xCC\x81" "cole";
    const tk::Encoding e2 = cased->encode(decomposed);
    REQUIRE(e2.tokens.size() >= 3);
    CHECK(e2.tokens[1] == "\xC3\xA9");
    CHECK(e2.offsets[1] == P{0, 3});
    CHECK(tk::code_point_offsets(e2, decomposed)[1] == P{0, 2});
  }

  TEST_CASE("encode_words maps tokens to words and truncates from the end") {
    auto tok = tk::load_wordpiece(lth::testing::vocab_path("bert-base-cased"), false);
    const std::vector<std::string> words = {"EU", "rejects", "German", "call", "unaffable"};
    const tk::Encoding enc = tok->encode_words(words);
    REQUIRE(enc.word_ids.size() == enc.size());
    CHECK(enc.word_ids.front() == -1);
    CHECK(enc.word_ids.back() == -1);
    std::vector<int> firsts;
    for (std::size_t i = 1; i + 1 < enc.size(); ++i) {
      CHECK(enc.word_ids[i] >= enc.word_ids[i - 1]);
      if (enc.word_ids[i] != enc.word_ids[i - 1]) firsts.push_back(static_cast<int>(i));
      const auto& w = words[enc.word_ids[i]];
      CHECK(enc.offsets[i].second <= static_cast<std::int64_t>(w.size()));
    }
    CHECK(firsts.size() == words.size());
    tk::EncodeOptions o;
    o.max_length = 5;
    o.pad_to_max_length = true;
    const tk::Encoding t = tok->encode_words(words, o);
    CHECK(t.size() == 5);
    CHECK(t.tokens.back() == "[SEP]");
    std::vector<int> expect(enc.word_ids.begin(), enc.word_ids.begin() + 4);
    expect.push_back(-1);
    CHECK(t.word_ids == expect);
    o.max_length = 20;
    const tk::Encoding padded = tok->encode_words(words, o);
    CHECK(padded.size() == 20);
    CHECK(padded.tokens.back() == "[PAD]");
    CHECK(padded.word_ids.back() == -1);
    CHECK(padded.attention_mask.back() == 0);
  }

  TEST_CASE("longest_first truncation removes from the longer segment, the second on ties") {
    auto tok = tk::load_wordpiece(lth::testing::vocab_path("bert-base-uncased"), true);
    const std::string a = "one two three four", b = "five six";
    tk::EncodeOptions o;
    o.max_length = 7;  // 4 + 2 + 3 = 9 -> remove 2: a 4->3, a 3->2 (a is longer both times)
    tk::Encoding e = tok->encode(a, &b, o);
    CHECK(e.tokens == std::vector<std::string>{"[CLS]", "one", "two", "[SEP]", "five", "six", "[SEP]"});
    o.max_length = 6;  // remove 3: a->3, a->2, tie 2/2 -> b->1
    e = tok->encode(a, &b, o);
    CHECK(e.tokens == std::vector<std::string>{"[CLS]", "one", "two", "[SEP]", "five", "[SEP]"});
    // A single sequence too short to lose enough tokens is left whole (transformers does the same).
    o.max_length = 2;
    e = tok->encode("one", nullptr, o);
    CHECK(e.tokens == std::vector<std::string>{"[CLS]", "one", "[SEP]"});
    o.add_special_tokens = false;
    o.max_length = 1;
    e = tok->encode("one two", nullptr, o);
    CHECK(e.tokens == std::vector<std::string>{"one"});
  }
}
