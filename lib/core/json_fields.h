// Strict reading of a JSON object into typed fields: take() copies a key that is present (and not
// null) into a field, with an error naming the file and the key when its type is wrong, and
// remembers it; reject_unknown() fails on the first key that no take() asked for.
#pragma once

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lth {

class JsonFields {
 public:
  // Throws ConfigError when `j` is not an object. `source` names the file in errors.
  JsonFields(const nlohmann::json& j, std::string source);

  // Integers must be JSON integers in T's range (nlohmann would truncate 32.5 to 32 and wrap 2^64-1
  // to -1), floating-point fields JSON numbers, strings strings and booleans booleans.
  template <typename T>
  void take(const char* key, T& out) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      LTH_CHECK(it->is_number_integer(), ConfigError,
                "{}: field '{}' has the wrong type: expected an integer, got {}", source_, key,
                clip(it->dump()));
      const bool fits = it->is_number_unsigned()
                            ? it->template get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                            : it->template get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                                  it->template get<std::int64_t>() <= static_cast<std::int64_t>(std::numeric_limits<T>::max());
      LTH_CHECK(fits, ConfigError, "{}: field '{}' is out of range: {}", source_, key, clip(it->dump()));
    } else if constexpr (std::is_floating_point_v<T>) {
      LTH_CHECK(it->is_number(), ConfigError,
                "{}: field '{}' has the wrong type: expected a number, got {}", source_, key,
                clip(it->dump()));
    } else if constexpr (std::is_same_v<T, bool>) {
      LTH_CHECK(it->is_boolean(), ConfigError,
                "{}: field '{}' has the wrong type: expected true or false, got {}", source_, key,
                clip(it->dump()));
    } else if constexpr (std::is_same_v<T, std::string>) {
      LTH_CHECK(it->is_string(), ConfigError,
                "{}: field '{}' has the wrong type: expected a string, got {}", source_, key,
                clip(it->dump()));
    }
    try {
      out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
      LTH_FAIL(ConfigError, "{}: field '{}' has the wrong type ({})", source_, key, clip(it->dump()));
    }
  }

  // ConfigError naming the first key that was not taken.
  void reject_unknown() const;

  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& j_;
  std::string source_;
  std::set<std::string> seen_;
};

}  // namespace lth
