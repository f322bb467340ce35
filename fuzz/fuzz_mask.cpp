// Mask files (safetensors of 0/1 U8 or BOOL tensors) through the checks every verb uses.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_common.h"
#include "prune/mask.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = lth::fuzz::input_path("mask.safetensors");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] {
    const auto mask = lth::prune::load_mask(path);
    (void)mask.stats().dump();
  });
  return 0;
}
