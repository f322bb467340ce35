// Step: "3ep", "1000it", "2ep100it", a bare number of iterations; everything else is a UsageError.
#include <doctest/doctest.h>

#include <string>

#include "core/error.h"
#include "core/step.h"

TEST_SUITE("core") {
  TEST_CASE("Step::parse accepts <N>ep, <N>it, <N>ep<M>it and bare numbers") {
    auto s = lth::Step::parse("3ep");
    CHECK(s.epochs == 3);
    CHECK(s.iterations == 0);
    s = lth::Step::parse("1000it");
    CHECK(s.epochs == 0);
    CHECK(s.iterations == 1000);
    s = lth::Step::parse("2ep100it");
    CHECK(s.epochs == 2);
    CHECK(s.iterations == 100);
    s = lth::Step::parse("500");
    CHECK(s.epochs == 0);
    CHECK(s.iterations == 500);
    CHECK(lth::Step::parse("0it").is_zero());
    CHECK(lth::Step::parse("0ep").is_zero());
    CHECK(lth::Step::parse("0").is_zero());
    CHECK_FALSE(lth::Step::parse("1it").is_zero());
  }

  TEST_CASE("Step::resolve and str") {
    CHECK(lth::Step::parse("2ep100it").resolve(37) == 2 * 37 + 100);
    CHECK(lth::Step::parse("3ep").resolve(10) == 30);
    CHECK(lth::Step::parse("7").resolve(1000) == 7);
    for (const std::string text : {"3ep", "1000it", "2ep100it", "0it"}) {
      CAPTURE(text);
      CHECK(lth::Step::parse(text).str() == text);
    }
    CHECK(lth::Step::parse("42").str() == "42it");
  }

  TEST_CASE("Step::parse rejects anything else with a UsageError naming the text") {
    for (const std::string bad : {"", "ep", "it", "3 ep", "1.5ep", "-1it", "3it2ep", "abc", "3epx", "ep3", "3e", "3ep ",
                                  " 3ep", "3EP", "+3it"}) {
      CAPTURE(bad);
      try {
        lth::Step::parse(bad);
        FAIL("accepted");
      } catch (const lth::UsageError& e) {
        CHECK(std::string(e.what()).find("'" + bad + "'") != std::string::npos);
      }
    }
  }

  TEST_CASE("Step::parse: numbers too large for int64 are a UsageError, not std::out_of_range") {
    for (const std::string bad : {"99999999999999999999it", "99999999999999999999ep", "99999999999999999999",
                                  "1ep99999999999999999999it"}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(lth::Step::parse(bad), lth::UsageError);
    }
  }
}
