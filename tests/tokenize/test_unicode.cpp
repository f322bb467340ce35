#include <doctest/doctest.h>

#include "tokenize/unicode.h"
#include "tokenize/unicode_data.h"

namespace u = lth::tokenize::unicode;

namespace {

std::u32string cps(const u::Chars& chars) {
  std::u32string s;
  for (const auto& c : chars) s += c.cp;
  return s;
}

u::Chars chars_of(const std::u32string& s) {
  u::Chars out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back({s[i], static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i + 1)});
  return out;
}

}  // namespace

TEST_SUITE("tokenize") {
  TEST_CASE("unicode tables are Unicode 14 (Python 3.11, as the fixtures)") {
    CHECK(std::string(lth::tokenize::unicode_data::kUnicodeVersion) == "14.0.0");
  }

  TEST_CASE("utf8 decoding keeps byte ranges and replaces invalid bytes") {
    const std::string s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\xFF";
    const u::Chars c = u::decode_utf8(s);
    REQUIRE(c.size() == 5);
    CHECK(c[0].cp == U'a');
    CHECK(c[1].cp == 0xE9);
    CHECK(c[1].begin == 1);
    CHECK(c[1].end == 3);
    CHECK(c[2].cp == 0x4E2D);
    CHECK(c[3].cp == 0x1F600);
    CHECK(c[3].end == 10);
    CHECK(c[4].cp == 0xFFFD);
    CHECK(u::encode_utf8(u::decode_utf8("h\xC3\xA9llo")) == "h\xC3\xA9llo");
    // Overlong encodings and surrogates are invalid.
    CHECK(u::decode_utf8("\xC0\xAF").size() == 2);
    CHECK(u::decode_utf8("\xED\xA0\x80").front().cp == 0xFFFD);
  }

  TEST_CASE("character classes follow transformers' BertTokenizer") {
    CHECK(u::is_bert_whitespace(U'\t'));
    CHECK(u::is_bert_whitespace(0x3000));  // ideographic space (Zs)
    CHECK_FALSE(u::is_bert_whitespace(0x2028));
    CHECK(u::is_python_space(0x2028));  // str.split() splits on it
    CHECK(u::is_python_space(0x1C));
    CHECK(u::is_bert_control(0x200B));  // Cf
    CHECK(u::is_bert_control(0xAD));    // soft hyphen, Cf
    CHECK(u::is_bert_control(0xE000));  // private use
    CHECK(u::is_bert_control(0x378));   // unassigned
    CHECK_FALSE(u::is_bert_control(U'\n'));
    CHECK(u::is_bert_punctuation(U'$'));  // Sc, but ASCII
    CHECK(u::is_bert_punctuation(U'^'));
    CHECK_FALSE(u::is_bert_punctuation(0xB4));  // acute accent is Sk
    CHECK(u::is_bert_punctuation(0x2014));      // em dash
    CHECK(u::is_bert_punctuation(0xBF));        // inverted question mark
    CHECK(u::is_cjk_ideograph(0x4E2D));
    CHECK_FALSE(u::is_cjk_ideograph(0x3042));  // hiragana
    CHECK(u::is_mn(0x301));
    CHECK(u::combining_class(0x301) == 230);
    CHECK(u::combining_class(0x323) == 220);
  }

  TEST_CASE("lower-casing is Python's str.lower per code point") {
    CHECK(cps(u::to_lower(chars_of(U"ABC\u00C9\u0130\u03A3"))) == U"abc\u00E9i\u0307\u03C3");
    const u::Chars l = u::to_lower(chars_of(U"\u0130x"));
    REQUIRE(l.size() == 3);
    CHECK(l[1].begin == 0);  // both code points of the expansion point at the original character
    CHECK(l[1].end == 1);
    CHECK(cps(u::to_lower(chars_of(U"\u1E9E\u2126"))) == U"\u00DF\u03C9");
  }

  TEST_CASE("NFD and NFC") {
    CHECK(cps(u::nfd(chars_of(U"\u00E9"))) == U"e\u0301");
    CHECK(cps(u::nfd(chars_of(U"\u1E69"))) == U"s\u0323\u0307");   // fully recursive
    CHECK(cps(u::nfd(chars_of(U"s\u0307\u0323"))) == U"s\u0323\u0307");  // canonical order
    CHECK(cps(u::nfd(chars_of(U"\uD55C"))) == U"\u1112\u1161\u11AB");    // Hangul
    CHECK(cps(u::nfc(chars_of(U"e\u0301cole"))) == U"\u00E9cole");
    CHECK(cps(u::nfc(chars_of(U"s\u0307\u0323"))) == U"\u1E69");
    CHECK(cps(u::nfc(chars_of(U"\u1112\u1161\u11AB"))) == U"\uD55C");
    CHECK(cps(u::nfc(chars_of(U"\u2126"))) == U"\u03A9");  // singleton
    CHECK(cps(u::nfc(chars_of(U"\u0958"))) == U"\u0915\u093C");  // composition exclusion
    CHECK(cps(u::nfc(chars_of(U"a\u0308\u0301"))) == U"\u00E4\u0301");
    const u::Chars composed = u::nfc(chars_of(U"xe\u0301"));
    REQUIRE(composed.size() == 2);
    CHECK(composed[1].begin == 1);
    CHECK(composed[1].end == 3);  // the union of both source characters
  }
}
