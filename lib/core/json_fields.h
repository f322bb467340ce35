// Strict reading of a JSON object into typed fields: take() copies a key that is present (and not
// null) into a field, with an error naming the file and the key when its type is wrong, and
// remembers it; reject_unknown() fails on the first key that no take() asked for.
#pragma once

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lth {

class JsonFields {
 public:
  // Throws ConfigError when `j` is not an object. `source` names the file in errors.
  JsonFields(const nlohmann::json& j, std::string source);

  template <typename T>
  void take(const char* key, T& out) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return;
    try {
      out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
      LTH_FAIL(ConfigError, "{}: field '{}' has the wrong type ({})", source_, key, it->dump());
    }
  }

  // ConfigError naming the first key that was not taken.
  void reject_unknown() const;

 private:
  const nlohmann::json& j_;
  std::string source_;
  std::set<std::string> seen_;
};

}  // namespace lth
