#include "core/step.h"

#include <regex>

#include "core/error.h"

namespace lth {

Step Step::parse(const std::string& text) {
  static const std::regex kPattern(R"(^(?:(\d+)ep)?(?:(\d+)it)?$)");
  static const std::regex kNumber(R"(^\d+$)");
  Step s;
  std::smatch m;
  if (std::regex_match(text, kNumber)) {
    s.iterations = std::stoll(text);
    return s;
  }
  LTH_CHECK(!text.empty() && std::regex_match(text, m, kPattern), UsageError,
            "'{}' is not a step: use <N>ep, <N>it or <N>ep<M>it (e.g. 3ep, 500it, 1ep200it)", text);
  if (m[1].matched) s.epochs = std::stoll(m[1].str());
  if (m[2].matched) s.iterations = std::stoll(m[2].str());
  return s;
}

std::string Step::str() const {
  if (epochs > 0 && iterations > 0) return std::to_string(epochs) + "ep" + std::to_string(iterations) + "it";
  if (epochs > 0) return std::to_string(epochs) + "ep";
  return std::to_string(iterations) + "it";
}

}  // namespace lth
