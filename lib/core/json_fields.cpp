#include "core/json_fields.h"

namespace lth {

JsonFields::JsonFields(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {
  LTH_CHECK(j_.is_object(), ConfigError, "{}: expected a JSON object", source_);
}

void JsonFields::reject_unknown() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    LTH_CHECK(seen_.count(it.key()), ConfigError, "{}: unknown key '{}'", source_, clip(it.key()));
  }
}

}  // namespace lth
