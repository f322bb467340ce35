// JsonFields: the strict JSON-to-typed-fields reader behind --config files, mux_config.json and
// config.json.
#include <doctest/doctest.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"
#include "tests/testing.h"

using lth::testing::error_of;

TEST_SUITE("core") {
  TEST_CASE("JsonFields takes typed fields, keeps defaults for absent or null keys") {
    auto j = nlohmann::json::parse(R"({"lr": 0.5, "name": "x", "skip": null})");
    double lr = 1.0, missing = 7.0;
    std::string name, skip = "default";
    lth::JsonFields f(j, "cfg.json");
    f.take("lr", lr);
    f.take("name", name);
    f.take("skip", skip);
    f.take("absent", missing);
    f.reject_unknown();
    CHECK(lr == 0.5);
    CHECK(name == "x");
    CHECK(skip == "default");
    CHECK(missing == 7.0);
  }

  TEST_CASE("JsonFields names the file and the key on a wrong type or an unknown key") {
    auto j = nlohmann::json::parse(R"({"lr": "fast", "typo": 1})");
    lth::JsonFields f(j, "cfg.json");
    double lr = 1.0;
    const std::string wrong = error_of<lth::ConfigError>([&] { f.take("lr", lr); });
    CHECK(wrong.find("cfg.json") != std::string::npos);
    CHECK(wrong.find("'lr'") != std::string::npos);
    CHECK(wrong.find("wrong type") != std::string::npos);
    const std::string unknown = error_of<lth::ConfigError>([&] { f.reject_unknown(); });
    CHECK(unknown.find("unknown key 'typo'") != std::string::npos);
    CHECK(error_of<lth::ConfigError>([] { lth::JsonFields g(nlohmann::json::array(), "a.json"); }).find("a.json: expected a JSON object") !=
          std::string::npos);
  }
}
