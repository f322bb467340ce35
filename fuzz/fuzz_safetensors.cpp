// safetensors reader: header validation and every tensor copied out.
#include "fuzz/fuzz_common.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = lth::fuzz::input_path("model.safetensors");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] {
    lth::io::SafetensorsFile file(path);
    (void)file.load_all();
  });
  return 0;
}
