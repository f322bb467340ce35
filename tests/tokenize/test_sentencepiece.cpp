// SentencePiece through the lth_spm shim, against spm_encode on a model trained here with spm_train
// (Debian package `sentencepiece`). Skipped with a message when those tools are not installed.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include "core/error.h"
#include "tests/tokenize/tok_testing.h"
#include "tokenize/sentencepiece.h"
#include "tokenize/tokenizer.h"

namespace tk = lth::tokenize;

namespace {

bool have_tool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> split_spaces(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Non-empty lines of two State of the Union addresses: the first for training, the rest held out.
void make_corpus(const std::string& train, const std::string& test) {
  const std::string dir = lth::testing::shared_dir() + "/data/corpus/nltk_state_union/";
  std::vector<std::string> lines;
  for (const char* f : {"1945-Truman.txt", "1946-Truman.txt"}) {
    for (std::string& l : read_lines(dir + f)) {
      if (l.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(l);
    }
  }
  REQUIRE(lines.size() > 400);
  std::ofstream tr(train), te(test);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i < 300) tr << lines[i] << "\n";
    else if (i < 400) te << lines[i] << "\n";
  }
  te << "Hello [MASK] world\n";
}

}  // namespace

TEST_SUITE("tokenize") {
  TEST_CASE("SentencePiece model: same pieces and ids as spm_encode, offsets into the text") {
    // A shim that cannot be found is an IoError, not a crash (checked before the shim is loaded).
    ::setenv("LTH_SPM_SHIM", "/nonexistent/liblth_spm.so", 1);
    {
      lth::testing::TempDir dir("spm-missing");
      std::ofstream(dir.file("spiece.model")) << "not a model";
      CHECK_THROWS_AS(tk::load_tokenizer(dir.path()), lth::IoError);
    }
    ::unsetenv("LTH_SPM_SHIM");
    REQUIRE_MESSAGE(!tk::find_spm_shim().empty(), "build the lth_spm target");

    // The reference tools are part of the test's truth (scripts/install-deps installs them): missing
    // tools fail the test rather than skip the parity check.
    REQUIRE_MESSAGE(have_tool("spm_train"), "spm_train not installed (Debian package sentencepiece; scripts/install-deps)");
    REQUIRE_MESSAGE(have_tool("spm_encode"), "spm_encode not installed (Debian package sentencepiece; scripts/install-deps)");
    lth::testing::TempDir dir("spm");
    const std::string train = dir.file("train.txt"), test = dir.file("test.txt");
    make_corpus(train, test);
    const std::string model_dir = dir.file("model");
    lth::make_dirs(model_dir);
    const std::string prefix = model_dir + "/spiece";
    const std::string cmd = "spm_train --input=" + lth::testing::quote(train) + " --model_prefix=" +
                            lth::testing::quote(prefix) +
                            " --vocab_size=400 --model_type=unigram --character_coverage=1.0 --pad_id=3"
                            " --user_defined_symbols='[CLS],[SEP],[MASK]' --num_threads=1 --minloglevel=2"
                            " >" + lth::testing::quote(dir.file("train.log")) + " 2>&1";
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "spm_train failed: " << lth::read_file(dir.file("train.log")));
    for (const char* fmt : {"id", "piece"}) {
      const std::string enc = "spm_encode --model=" + lth::testing::quote(prefix + ".model") + " --output_format=" + fmt +
                              " < " + lth::testing::quote(test) + " > " + lth::testing::quote(dir.file(std::string("out.") + fmt));
      REQUIRE(std::system(enc.c_str()) == 0);
    }
    const std::vector<std::string> texts = read_lines(test);
    const std::vector<std::string> want_ids = read_lines(dir.file("out.id"));
    const std::vector<std::string> want_pieces = read_lines(dir.file("out.piece"));
    REQUIRE(texts.size() == 101);
    REQUIRE(want_ids.size() == texts.size());
    REQUIRE(want_pieces.size() == texts.size());

    // Without tokenizer_config.json: case kept, [CLS]/[SEP]/[MASK] are the user-defined pieces.
    auto tok = tk::load_tokenizer(model_dir);
    CHECK(tok->kind() == "sentencepiece");
    CHECK(tok->vocab_size() == 400);
    CHECK(tok->unk_id() == 0);
    CHECK(tok->pad_id() == 3);
    CHECK(tok->cls_id() == 4);
    CHECK(tok->sep_id() == 5);
    CHECK(tok->mask_id() == 6);
    CHECK(tok->id_to_token(4) == "[CLS]");
    CHECK(tok->find_id("no such piece") == -1);
    int compared = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string& text = texts[i];
      INFO("line " << i << ": " << text);
      const std::vector<tk::Piece> pieces = tok->tokenize_with_offsets(text);
      std::vector<std::string> got_pieces, got_ids;
      for (const auto& p : pieces) {
        got_pieces.push_back(p.token);
        got_ids.push_back(std::to_string(p.id));
      }
      CHECK(got_pieces == split_spaces(want_pieces[i]));
      CHECK(got_ids == split_spaces(want_ids[i]));
      // Offsets: each piece is its slice of the text with spaces as U+2581 (the first word's
      // dummy prefix has no space in the text).
      for (const auto& p : pieces) {
        REQUIRE(p.begin <= p.end);
        REQUIRE(p.end <= static_cast<std::int64_t>(text.size()));
        if (p.id == tok->unk_id()) continue;
        std::string slice;
        for (char c : text.substr(p.begin, p.end - p.begin)) slice += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
        CHECK((slice == p.token || "\xE2\x96\x81" + slice == p.token));
      }
      ++compared;
    }
    CHECK(compared == 101);
    const tk::Encoding enc = tok->encode("Hello world", nullptr, {});
    CHECK(enc.input_ids.front() == 4);
    CHECK(enc.input_ids.back() == 5);

    // The lth binary links LibTorch: the shim must load there without a protobuf clash.
    const char* bin = std::getenv("LTH_BINARY");
    REQUIRE_MESSAGE((bin != nullptr && lth::path_exists(bin)), "the lth binary is not built (LTH_BINARY)");
    {
      const auto r = lth::testing::run_lth("tokenize --model " + lth::testing::quote(model_dir) + " --text " +
                                           lth::testing::quote(texts[0]));
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      INFO("lth tokenize printed: " << r.out);
      const auto j = nlohmann::json::parse(r.out);
      std::vector<std::int64_t> ids;
      for (const auto& s : split_spaces(want_ids[0])) ids.push_back(std::stoll(s));
      ids.insert(ids.begin(), 4);
      ids.push_back(5);
      CHECK(j["input_ids"].get<std::vector<std::int64_t>>() == ids);
    }

    // With do_lower_case in tokenizer_config.json the text is lower-cased first; offsets still
    // point into the original text.
    std::ofstream(model_dir + "/tokenizer_config.json") << R"({"do_lower_case": true})";
    auto lower = tk::load_tokenizer(model_dir);
    const std::string upper_text = "THE CONGRESS";
    const auto lp = lower->tokenize_with_offsets(upper_text);
    const auto ref = tok->tokenize_with_offsets("the congress");
    REQUIRE(lp.size() == ref.size());
    for (std::size_t i = 0; i < lp.size(); ++i) {
      CHECK(lp[i].token == ref[i].token);
      CHECK(lp[i].begin == ref[i].begin);
      CHECK(lp[i].end == ref[i].end);
    }

  }
}
