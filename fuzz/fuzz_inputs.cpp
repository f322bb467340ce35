// `lth forward --inputs` JSON, checked against a small config (the fixtures' sizes).
#include "fuzz/fuzz_common.h"
#include "model/config.h"
#include "model/inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const lth::model::BertConfig config = [] {
    lth::model::BertConfig c;
    c.vocab_size = 99;
    c.max_position_embeddings = 64;
    c.type_vocab_size = 2;
    return c;
  }();
  const std::string& path = lth::fuzz::input_path("inputs.json");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] { (void)lth::model::read_inputs_file(path, config); });
  return 0;
}
