#include "core/step.h"

#include <regex>
#include <stdexcept>

#include "core/error.h"

namespace lth {

namespace {

// The digits of a count; numbers beyond int64 are a UsageError (std::stoll would throw out_of_range).
int64_t count_of(const std::string& digits, const std::string& text) {
  try {
    return std::stoll(digits);
  } catch (const std::out_of_range&) {
    LTH_FAIL(UsageError, "'{}' is not a step: {} is too large", text, digits);
  }
}

}  // namespace

Step Step::parse(const std::string& text) {
  static const std::regex kPattern(R"(^(?:(\d+)ep)?(?:(\d+)it)?$)");
  static const std::regex kNumber(R"(^\d+$)");
  Step s;
  std::smatch m;
  if (std::regex_match(text, kNumber)) {
    s.iterations = count_of(text, text);
    return s;
  }
  LTH_CHECK(!text.empty() && std::regex_match(text, m, kPattern), UsageError,
            "'{}' is not a step: use <N>ep, <N>it or <N>ep<M>it (e.g. 3ep, 500it, 1ep200it)", text);
  if (m[1].matched) s.epochs = count_of(m[1].str(), text);
  if (m[2].matched) s.iterations = count_of(m[2].str(), text);
  return s;
}

std::string Step::str() const {
  if (epochs > 0 && iterations > 0) return std::to_string(epochs) + "ep" + std::to_string(iterations) + "it";
  if (epochs > 0) return std::to_string(epochs) + "ep";
  return std::to_string(iterations) + "it";
}

}  // namespace lth
