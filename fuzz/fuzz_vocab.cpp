// vocab.txt: reading, building the WordPiece tokenizer and encoding a sentence with it.
#include "fuzz/fuzz_common.h"
#include "tokenize/tokenizer.h"
#include "tokenize/wordpiece.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = lth::fuzz::input_path("vocab.txt");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] {
    const auto tok = lth::tokenize::load_wordpiece(path, /*lowercase=*/true);
    (void)tok->encode("Hello, unaffable world! naïve 東京", nullptr);
  });
  return 0;
}
