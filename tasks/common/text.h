// Text helpers shared by the task readers: UTF-8 decoding, Python-compatible Unicode predicates
// (str.lower, str.isalnum, str.split) for the official SQuAD normalisation, and line/TSV splitting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lth::tasks {

// Decodes UTF-8. Malformed bytes decode to U+FFFD one byte at a time (never throws).
std::u32string utf8_decode(std::string_view s);
void utf8_append(std::string& out, char32_t c);
std::string utf8_encode(std::u32string_view s);
// Number of code points (what Python's len() and SQuAD's answer_start count).
std::size_t utf8_length(std::string_view s);
// Byte offset of code point `index`, or npos when index > utf8_length(s).
std::size_t utf8_byte_offset(std::string_view s, std::size_t index);

// Python 3 semantics (lib/tokenize's Unicode tables, generated from CPython 3.11 by
// scripts/gen_unicode_tables.py).
bool py_isalnum(char32_t c);  // str.isalnum(), which is also what `re`'s \w uses (plus '_')
bool py_isspace(char32_t c);  // str.isspace(), the separators of str.split()
// str.lower(): full mapping including U+0130 -> "i\u0307" and the Final_Sigma rule.
std::u32string py_lower(std::u32string_view s);
std::string py_lower(std::string_view utf8);
// str.split() with no argument: runs of Unicode whitespace separate, empty pieces dropped.
std::vector<std::string> py_split(std::string_view utf8);

// Removes a leading UTF-8 byte-order mark.
std::string_view strip_bom(std::string_view s);

// One line of a text file, without its terminator ("\n" or "\r\n"); `number` is 1-based.
struct Line {
  std::string_view text;
  std::int64_t number = 0;
};
// Splits a whole file into lines. A final line without "\n" counts; the empty piece after a
// final "\n" does not.
std::vector<Line> split_lines(std::string_view content);
// Splits on every '\t' (no quoting: quotes are literal characters).
std::vector<std::string_view> split_tabs(std::string_view line);

}  // namespace lth::tasks
