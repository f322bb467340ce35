// config.json: parsing, field checks and the round trip back to JSON.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_common.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = lth::fuzz::input_path("config.json");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] {
    const auto config = lth::model::BertConfig::from_file(path);
    (void)config.to_json().dump();
  });
  return 0;
}
