// Enum <-> name tables: one row per spelling, the first row of a value its name, later rows of the
// same value aliases a parser accepts. Header-only; the parse error stays the caller's words.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace lth {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// The value `name` spells, if any row does.
template <typename E, std::size_t N>
std::optional<E> enum_from_name(const EnumName<E> (&table)[N], const std::string& name) {
  for (const auto& row : table) {
    if (name == row.name) return row.value;
  }
  return std::nullopt;
}

// The name of `value` (its first row); "?" when no row has it.
template <typename E, std::size_t N>
const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& row : table) {
    if (row.value == value) return row.name;
  }
  return "?";
}

// The names (no aliases) for an error message: "a, b, c" with `last` before the last one ("a, b or c").
template <typename E, std::size_t N>
std::string enum_choices(const EnumName<E> (&table)[N], const char* last = ", ") {
  std::string out;
  std::size_t count = 0, total = 0;
  for (std::size_t i = 0; i < N; ++i) total += enum_name(table, table[i].value) == table[i].name;
  for (std::size_t i = 0; i < N; ++i) {
    if (enum_name(table, table[i].value) != table[i].name) continue;  // an alias
    if (count > 0) out += count + 1 == total ? last : ", ";
    out += table[i].name;
    ++count;
  }
  return out;
}

}  // namespace lth
