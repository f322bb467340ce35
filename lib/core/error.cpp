#include "core/error.h"

namespace lth {

std::string clip(std::string_view text, std::size_t max_bytes) {
  std::string out;
  std::size_t end = text.size();
  bool cut = false;
  if (end > max_bytes) {
    end = max_bytes;
    // Back up to the start of a UTF-8 sequence so the cut never splits a character.
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    cut = true;
  }
  out.reserve(end + 8);
  for (std::size_t i = 0; i < end; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace lth
