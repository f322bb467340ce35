#include "tokenize/unicode.h"

#include <algorithm>

#include "tokenize/unicode_data.h"

namespace lth::tokenize::unicode {
namespace ud = unicode_data;

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Hangul syllable (de)composition constants (Unicode chapter 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

// The range of a sorted table of disjoint [first, last] ranges that holds `cp`; null: none does.
template <typename Range>
const Range* range_of(const Range* table, std::size_t count, char32_t cp) {
  const Range* end = table + count;
  const Range* it = std::upper_bound(table, end, cp, [](char32_t v, const Range& r) { return v < r.first; });
  if (it == table) return nullptr;
  --it;
  return cp <= it->last ? it : nullptr;
}

std::uint8_t flags(char32_t cp) {
  const auto* r = range_of(ud::kPropertyRanges, ud::kPropertyRangeCount, cp);
  return r ? r->flags : 0;
}

const ud::DecompositionEntry* find_decomposition(char32_t cp) {
  const auto* first = ud::kDecompositionEntries;
  const auto* last = first + ud::kDecompositionEntryCount;
  const auto* it = std::lower_bound(first, last, cp, [](const ud::DecompositionEntry& e, char32_t v) { return e.cp < v; });
  return (it != last && it->cp == cp) ? it : nullptr;
}

// The primary composite of (a, b), or 0.
char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto* first = ud::kCompositionEntries;
  const auto* last = first + ud::kCompositionEntryCount;
  const auto* it = std::lower_bound(first, last, std::make_pair(a, b), [](const ud::CompositionEntry& e, std::pair<char32_t, char32_t> v) {
    return e.first != v.first ? e.first < v.first : e.second < v.second;
  });
  return (it != last && it->first == a && it->second == b) ? it->composite : 0;
}

}  // namespace

Chars decode_utf8(std::string_view text, std::uint32_t base) {
  Chars out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b0 = s[i];
    int len = 0;
    char32_t cp = 0, min = 0;
    if (b0 < 0x80) { len = 1; cp = b0; }
    else if ((b0 & 0xE0) == 0xC0) { len = 2; cp = b0 & 0x1F; min = 0x80; }
    else if ((b0 & 0xF0) == 0xE0) { len = 3; cp = b0 & 0x0F; min = 0x800; }
    else if ((b0 & 0xF8) == 0xF0) { len = 4; cp = b0 & 0x07; min = 0x10000; }
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (ok && len > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok) {
      out.push_back({kReplacement, static_cast<std::uint32_t>(base + i), static_cast<std::uint32_t>(base + i + 1)});
      ++i;
      continue;
    }
    out.push_back({cp, static_cast<std::uint32_t>(base + i), static_cast<std::uint32_t>(base + i + len)});
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string encode_utf8(const Chars& chars, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to && i < chars.size(); ++i) append_utf8(out, chars[i].cp);
  return out;
}

std::size_t count_code_points(std::string_view text) { return decode_utf8(text).size(); }

bool is_zs(char32_t cp) { return flags(cp) & ud::kFlagZs; }
bool is_other_category(char32_t cp) { return flags(cp) & ud::kFlagControl; }
bool is_punct_category(char32_t cp) { return flags(cp) & ud::kFlagPunct; }
bool is_mn(char32_t cp) { return flags(cp) & ud::kFlagMn; }
bool is_python_space(char32_t cp) { return flags(cp) & ud::kFlagSpace; }
bool is_python_alnum(char32_t cp) { return flags(cp) & ud::kFlagAlnum; }
bool is_cased(char32_t cp) { return flags(cp) & ud::kFlagCased; }
bool is_case_ignorable(char32_t cp) { return flags(cp) & ud::kFlagCaseIgnorable; }

int combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* r = range_of(ud::kCombiningRanges, ud::kCombiningRangeCount, cp);
  return r ? r->ccc : 0;
}

bool is_bert_whitespace(char32_t cp) { return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || is_zs(cp); }

bool is_bert_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return is_other_category(cp);
}

bool is_bert_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return is_punct_category(cp);
}

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

void append_lower(Chars& out, const Char& c) {
  if (c.cp < 0x80) {
    Char l = c;
    if (l.cp >= 'A' && l.cp <= 'Z') l.cp += 'a' - 'A';
    out.push_back(l);
    return;
  }
  const auto* first = ud::kLowerEntries;
  const auto* last = first + ud::kLowerEntryCount;
  const auto* it = std::lower_bound(first, last, c.cp, [](const ud::LowerEntry& e, char32_t v) { return e.cp < v; });
  if (it == last || it->cp != c.cp) {
    out.push_back(c);
    return;
  }
  out.push_back({it->lower[0], c.begin, c.end});
  if (it->lower[1] != 0) out.push_back({it->lower[1], c.begin, c.end});
}

Chars to_lower(const Chars& in) {
  Chars out;
  out.reserve(in.size());
  for (const Char& c : in) append_lower(out, c);
  return out;
}

namespace {

// CPython's Final_Sigma test: a cased letter before position i (skipping case-ignorables) and none
// after it.
bool is_final_sigma(std::u32string_view s, std::size_t i) {
  std::size_t j = i;
  bool cased_before = false;
  while (j > 0) {
    --j;
    if (is_case_ignorable(s[j])) continue;
    cased_before = is_cased(s[j]);
    break;
  }
  if (!cased_before) return false;
  for (std::size_t k = i + 1; k < s.size(); ++k) {
    if (is_case_ignorable(s[k])) continue;
    return !is_cased(s[k]);
  }
  return true;
}

}  // namespace

std::u32string python_lower(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  Chars one;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0x3A3) {  // GREEK CAPITAL LETTER SIGMA
      out.push_back(is_final_sigma(s, i) ? 0x3C2 : 0x3C3);
      continue;
    }
    one.clear();
    append_lower(one, Char{s[i], 0, 0});
    for (const Char& c : one) out.push_back(c.cp);
  }
  return out;
}

Chars nfd(const Chars& in) {
  Chars out;
  out.reserve(in.size());
  for (const Char& c : in) {
    if (c.cp >= kSBase && c.cp < kSBase + kSCount) {
      const char32_t s = c.cp - kSBase;
      out.push_back({kLBase + s / kNCount, c.begin, c.end});
      out.push_back({kVBase + (s % kNCount) / kTCount, c.begin, c.end});
      if (s % kTCount != 0) out.push_back({kTBase + s % kTCount, c.begin, c.end});
    } else if (c.cp < 0xC0) {
      out.push_back(c);
    } else if (const auto* d = find_decomposition(c.cp)) {
      for (int k = 0; k < d->length; ++k) out.push_back({d->nfd[k], c.begin, c.end});
    } else {
      out.push_back(c);
    }
  }
  // Canonical ordering: stable sort of every run of non-starters by combining class.
  std::size_t i = 0;
  while (i < out.size()) {
    if (combining_class(out[i].cp) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < out.size() && combining_class(out[j].cp) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(out.begin() + i, out.begin() + j,
                       [](const Char& a, const Char& b) { return combining_class(a.cp) < combining_class(b.cp); });
    }
    i = j;
  }
  return out;
}

Chars nfc(const Chars& in) {
  Chars d = nfd(in);
  Chars out;
  out.reserve(d.size());
  std::ptrdiff_t starter = -1;  // index in `out` of the last starter
  int last_ccc = -1;            // combining class of the last character appended after the starter
  for (const Char& c : d) {
    const int ccc = combining_class(c.cp);
    if (starter >= 0) {
      // Not blocked: nothing between the starter and c, or everything between has a lower class.
      const bool adjacent = static_cast<std::size_t>(starter) + 1 == out.size();
      const bool unblocked = adjacent ? true : (last_ccc != 0 && last_ccc < ccc);
      if (unblocked) {
        if (const char32_t comp = compose_pair(out[starter].cp, c.cp)) {
          Char& s = out[starter];
          s.cp = comp;
          s.begin = std::min(s.begin, c.begin);
          s.end = std::max(s.end, c.end);
          continue;
        }
      }
    }
    if (ccc == 0) {
      starter = static_cast<std::ptrdiff_t>(out.size());
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace lth::tokenize::unicode
