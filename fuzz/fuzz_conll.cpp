// CoNLL-2003 NER files, then the label list and the IOB1 -> IOB2 conversion the NER task applies.
#include "fuzz/fuzz_common.h"
#include "tasks/ner/conll.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = lth::fuzz::input_path("eng.train");
  lth::fuzz::write_input(path, data, size);
  lth::fuzz::expect_clean(path, [&] {
    auto corpus = lth::tasks::ner::read_conll2003(path);
    (void)lth::tasks::ner::label_list(corpus);
    lth::tasks::ner::convert_to_iob2(corpus);
  });
  return 0;
}
