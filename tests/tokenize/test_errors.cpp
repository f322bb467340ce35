#include <fstream>

#include <doctest/doctest.h>

#include "core/error.h"
#include "tests/tokenize/tok_testing.h"
#include "tokenize/tokenizer.h"

namespace tk = lth::tokenize;

namespace {

void write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

// Runs `fn`, expects an exception of type E whose message contains every string of `parts`.
template <typename E, typename F>
void expect_error(F fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    FAIL("no exception");
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) {
      INFO("message: " << msg);
      CHECK(msg.find(p) != std::string::npos);
    }
  }
}

const char* kMiniVocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n,\n";

}  // namespace

TEST_SUITE("tokenize") {
  TEST_CASE("special token ids come from the vocabulary") {
    lth::testing::TempDir dir("tok-mini");
    write(dir.file("vocab.txt"), kMiniVocab);
    auto tok = tk::load_wordpiece(dir.file("vocab.txt"), true);
    CHECK(tok->pad_id() == 0);
    CHECK(tok->unk_id() == 1);
    CHECK(tok->cls_id() == 2);
    CHECK(tok->sep_id() == 3);
    CHECK(tok->mask_id() == 4);
    CHECK(tok->vocab_size() == 8);
    CHECK(tok->token_to_id("hello") == 5);
    CHECK(tok->token_to_id("absent") == 1);
    CHECK(tok->find_id("absent") == -1);
    CHECK(tok->id_to_token(6) == "##s");
    CHECK(tok->tokenize("Hellos, x") == std::vector<std::string>{"hello", "##s", ",", "[UNK]"});
    CHECK_THROWS_AS(tok->id_to_token(8), lth::ConfigError);
  }

  TEST_CASE("the fixture checkpoint's tokenizer loads from its directory") {
    auto tok = tk::load_tokenizer(lth::testing::shared_dir() + "/fixtures/hf-bert/model");
    CHECK(tok->kind() == "wordpiece");
    CHECK(tok->vocab_size() == 200);
    CHECK(tok->pad_id() == 0);
    CHECK(tok->unk_id() == 1);
    CHECK(tok->cls_id() == 2);
    CHECK(tok->sep_id() == 3);
    CHECK(tok->mask_id() == 4);
    CHECK(tok->model_max_length() == 64);
  }

  TEST_CASE("tokenizer_config.json decides lower-casing and special tokens") {
    lth::testing::TempDir dir("tok-config");
    write(dir.file("vocab.txt"), "<pad>\n<unk>\n<s>\n</s>\n<mask>\nHello\nhello\n");
    write(dir.file("tokenizer_config.json"),
          R"({"do_lower_case": false, "model_max_length": 1000000000000000019884624838656, "unk_token": "<unk>",
              "sep_token": "</s>", "pad_token": {"content": "<pad>"}, "cls_token": "<s>", "mask_token": "<mask>"})");
    auto tok = tk::load_tokenizer(dir.path());
    CHECK(tok->tokenize("Hello hello") == std::vector<std::string>{"Hello", "hello"});
    CHECK(tok->cls_id() == 2);
    CHECK(tok->model_max_length() == 0);
    CHECK(tok->encode("Hello").tokens == std::vector<std::string>{"<s>", "Hello", "</s>"});
  }

  TEST_CASE("errors name the file and the problem") {
    lth::testing::TempDir dir("tok-errors");
    expect_error<lth::IoError>([&] { tk::load_wordpiece(dir.file("missing.txt"), true); }, {"missing.txt"});
    write(dir.file("empty.txt"), "");
    expect_error<lth::IoError>([&] { tk::load_wordpiece(dir.file("empty.txt"), true); }, {"empty.txt", "empty vocabulary"});
    write(dir.file("dup.txt"), std::string(kMiniVocab) + "hello\n");
    expect_error<lth::ConfigError>([&] { tk::load_wordpiece(dir.file("dup.txt"), true); },
                                   {"dup.txt", "line 9", "duplicate", "hello", "line 6"});
    write(dir.file("nomask.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    expect_error<lth::ConfigError>([&] { tk::load_wordpiece(dir.file("nomask.txt"), true); },
                                   {"nomask.txt", "[MASK]", "not in the vocabulary"});
    expect_error<lth::IoError>([&] { tk::load_tokenizer(dir.file("nodir")); }, {"nodir", "not a directory"});
    expect_error<lth::IoError>([&] { tk::load_tokenizer(dir.path()); }, {"no tokenizer"});
    write(dir.file("vocab.txt"), kMiniVocab);
    write(dir.file("tokenizer_config.json"), "{\"do_lower_case\": tru");
    expect_error<lth::IoError>([&] { tk::load_tokenizer(dir.path()); }, {"tokenizer_config.json"});
    write(dir.file("tokenizer_config.json"), "{\"do_lower_case\": \"yes\"}");
    expect_error<lth::ConfigError>([&] { tk::load_tokenizer(dir.path()); }, {"tokenizer_config.json", "do_lower_case"});
  }
}
