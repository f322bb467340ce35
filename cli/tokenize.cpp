// lth tokenize: runs the tokenizer of a model directory (or a bare vocab.txt) over texts and prints
// one JSON object per input: tokens, input_ids, token_type_ids, attention_mask and offsets (code
// points into the input's own text, as Hugging Face reports them; [0, 0] for special tokens).
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "tokenize/tokenizer.h"

namespace lth::cli {
namespace {

struct TokenizeOptions {
  std::string model_dir, vocab_file, jsonl, text, pair;
  bool lowercase = false, no_lowercase = false, pad_to_max_length = false;
  int max_length = 0;
  bool has_text = false, has_pair = false;
};

struct Input {
  std::string text;
  std::optional<std::string> pair;
};

std::vector<Input> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LTH_CHECK(in, IoError, "{}: cannot open", path);
  std::vector<Input> out;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      LTH_FAIL(IoError, "{}:{}: malformed JSON: {}", path, number, e.what());
    }
    LTH_CHECK(j.is_object(), IoError, "{}:{}: expected a JSON object", path, number);
    LTH_CHECK(j.contains("text") && j["text"].is_string(), IoError, "{}:{}: \"text\" must be a string", path, number);
    Input input{j["text"].get<std::string>(), std::nullopt};
    if (j.contains("text_pair") && !j["text_pair"].is_null()) {
      LTH_CHECK(j["text_pair"].is_string(), IoError, "{}:{}: \"text_pair\" must be a string or null", path, number);
      input.pair = j["text_pair"].get<std::string>();
    }
    out.push_back(std::move(input));
  }
  LTH_CHECK(!in.bad(), IoError, "{}: read error", path);
  return out;
}

void run_tokenize(const TokenizeOptions& o) {
  const bool has_model = !o.model_dir.empty(), has_vocab = !o.vocab_file.empty();
  LTH_CHECK(has_model != has_vocab, UsageError, "give exactly one of --model DIR and --vocab FILE");
  LTH_CHECK(!o.jsonl.empty() != o.has_text, UsageError, "give exactly one of --jsonl FILE and --text TEXT");
  LTH_CHECK(!(o.lowercase && o.no_lowercase), UsageError, "--lowercase and --no-lowercase exclude each other");
  LTH_CHECK(has_vocab || !(o.lowercase || o.no_lowercase), UsageError,
            "--lowercase/--no-lowercase go with --vocab (a model directory's tokenizer_config.json decides)");
  LTH_CHECK(!o.has_pair || o.has_text, UsageError, "--pair goes with --text");
  LTH_CHECK(o.max_length >= 0, UsageError, "--max-length must be >= 0");
  LTH_CHECK(!o.pad_to_max_length || o.max_length > 0, UsageError, "--pad-to-max-length needs --max-length");

  std::unique_ptr<tokenize::Tokenizer> tok =
      has_model ? tokenize::load_tokenizer(o.model_dir) : tokenize::load_wordpiece(o.vocab_file, !o.no_lowercase);
  std::vector<Input> inputs;
  if (o.has_text) {
    inputs.push_back({o.text, o.has_pair ? std::optional<std::string>(o.pair) : std::nullopt});
  } else {
    inputs = read_jsonl(o.jsonl);
  }
  tokenize::EncodeOptions options;
  options.max_length = o.max_length;
  options.pad_to_max_length = o.pad_to_max_length;
  for (const Input& in : inputs) {
    const std::string* pair = in.pair ? &*in.pair : nullptr;
    const tokenize::Encoding enc = tok->encode(in.text, pair, options);
    nlohmann::json j;
    j["tokens"] = enc.tokens;
    j["input_ids"] = enc.input_ids;
    j["token_type_ids"] = enc.token_type_ids;
    j["attention_mask"] = enc.attention_mask;
    nlohmann::json offsets = nlohmann::json::array();
    for (const auto& [b, e] : tokenize::code_point_offsets(enc, in.text, pair)) offsets.push_back({b, e});
    j["offsets"] = std::move(offsets);
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  std::fflush(stdout);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Tokenize texts as the model's tokenizer does; prints one JSON object per input");
  auto o = std::make_shared<TokenizeOptions>();
  cmd->add_option("--model", o->model_dir, "Model directory (vocab.txt or *.model, tokenizer_config.json)");
  cmd->add_option("--vocab", o->vocab_file, "A WordPiece vocab.txt (instead of --model)");
  cmd->add_flag("--lowercase", o->lowercase, "With --vocab: lower-case and strip accents (the default)");
  cmd->add_flag("--no-lowercase", o->no_lowercase, "With --vocab: keep case and accents");
  cmd->add_option("--jsonl", o->jsonl, "Input file, one {\"text\": .., \"text_pair\": ..|null} per line");
  auto* text = cmd->add_option("--text", o->text, "One text to tokenize");
  auto* pair = cmd->add_option("--pair", o->pair, "Second segment for --text");
  add_number(*cmd, "--max-length", o->max_length, "Truncate (longest_first) to this many tokens; 0 = no truncation",
             count(0, 1 << 20))
      ->capture_default_str();
  cmd->add_flag("--pad-to-max-length", o->pad_to_max_length, "Pad with [PAD] up to --max-length");
  cmd->callback([o, text, pair] {
    o->has_text = text->count() > 0;
    o->has_pair = pair->count() > 0;
    run_tokenize(*o);
  });
}

}  // namespace lth::cli
