// SQuAD JSON (v1.1 / v2.0 datasets).
#include "fuzz/fuzz_common.h"
#include "tasks/squad/squad.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = lth::fuzz::input_path("dev-v1.1.json");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] { (void)lth::tasks::squad::read_dataset(path); });
  return 0;
}
