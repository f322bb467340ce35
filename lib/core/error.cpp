#include "core/error.h"

namespace lth {

std::string clip(std::string_view text, std::size_t max_bytes) {
  // The budget counts output bytes (an escaped control character takes 2-4), and a UTF-8 sequence
  // (lead byte plus continuation bytes) is kept whole or dropped whole.
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::string piece;
    std::size_t len = 1;
    if (c == '\n') {
      piece = "\\n";
    } else if (c == '\r') {
      piece = "\\r";
    } else if (c == '\t') {
      piece = "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      piece = fmt::format("\\x{:02x}", c);
    } else {
      while (c >= 0xC0 && i + len < text.size() && len < 4 &&
             (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80)
        ++len;
      piece.assign(text.data() + i, len);
    }
    if (out.size() + piece.size() > max_bytes) return out + "...";
    out += piece;
    i += len;
  }
  return out;
}

}  // namespace lth
