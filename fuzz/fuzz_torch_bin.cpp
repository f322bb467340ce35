// pytorch_model.bin reader: zip archive + pickle, through LibTorch's unpickler behind our checks.
#include "fuzz/fuzz_common.h"
#include "io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = lth::fuzz::input_path("pytorch_model.bin");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] { (void)lth::io::read_torch_bin(path); });
  return 0;
}
