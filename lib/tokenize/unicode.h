// Unicode helpers for the tokenizers: UTF-8 decoding that remembers where every code point came
// from, character classes as transformers' BertTokenizer defines them, per-code-point lower-casing
// (Python's str.lower), and NFD/NFC that carry the original byte ranges along.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lth::tokenize::unicode {

// One code point of a (possibly transformed) text and the byte range [begin, end) of the original
// text it stems from. Code points produced by expanding one original character share its range;
// a character composed from several gets the union of their ranges.
struct Char {
  char32_t cp = 0;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};
using Chars = std::vector<Char>;

// Decodes UTF-8; byte offsets are shifted by `base`. Each byte of an invalid or truncated sequence
// becomes U+FFFD (which the BERT cleaner drops, as it drops a literal U+FFFD).
Chars decode_utf8(std::string_view text, std::uint32_t base = 0);
void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(const Chars& chars, std::size_t from, std::size_t to);
inline std::string encode_utf8(const Chars& chars) { return encode_utf8(chars, 0, chars.size()); }
// Number of code points in a UTF-8 string (invalid bytes count one each, as decode_utf8 does).
std::size_t count_code_points(std::string_view text);

// Character classes (Unicode 14, as Python 3.11's unicodedata).
bool is_zs(char32_t cp);             // category Zs
bool is_other_category(char32_t cp); // category C* (control, format, unassigned, private use)
bool is_punct_category(char32_t cp); // category P*
bool is_mn(char32_t cp);             // category Mn (nonspacing mark)
bool is_python_space(char32_t cp);   // str.isspace(): what str.split() splits on
bool is_python_alnum(char32_t cp);   // str.isalnum() (with '_' it is the `re` module's \w)
bool is_cased(char32_t cp);          // Cased / Case_Ignorable, for the Final_Sigma rule
bool is_case_ignorable(char32_t cp);
int combining_class(char32_t cp);

// transformers' BertTokenizer helpers (_is_whitespace, _is_control, _is_punctuation, _is_chinese_char).
bool is_bert_whitespace(char32_t cp);
bool is_bert_control(char32_t cp);
bool is_bert_punctuation(char32_t cp);
bool is_cjk_ideograph(char32_t cp);

// Python's str.lower() applied one code point at a time (may expand: U+0130 -> "i\u0307").
void append_lower(Chars& out, const Char& c);
Chars to_lower(const Chars& in);
// Python's str.lower() of a whole string: the per-code-point mapping plus the context-dependent
// Final_Sigma rule (capital sigma -> final sigma after a cased letter and before none).
std::u32string python_lower(std::u32string_view s);
// Canonical decomposition (NFD) and canonical composition (NFC).
Chars nfd(const Chars& in);
Chars nfc(const Chars& in);

}  // namespace lth::tokenize::unicode
