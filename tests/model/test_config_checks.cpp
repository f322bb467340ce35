// config.json checks: typed, ranged fields (ConfigError naming config.json and the field), and the
// config checked against the checkpoint's tensor headers before any model is built, so a config
// asking for a million layers or 50M words beside a 110 KB checkpoint fails at once.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "model/config.h"
#include "model/load.h"
#include "tests/testing.h"
#include "tokenize/tokenizer.h"

using lth::testing::error_of;

namespace fs = std::filesystem;
using lth::model::BertConfig;

using lth::testing::hf_fixture;

namespace {

nlohmann::json fixture_config() { return lth::read_json_file(hf_fixture("model/config.json")); }

// A copy of the fixture checkpoint (weights, vocab) with `config` as its config.json.
std::string checkpoint_with(const lth::testing::TempDir& tmp, const nlohmann::json& config) {
  const std::string dir = tmp.file("ckpt");
  fs::create_directories(dir);
  fs::copy_file(hf_fixture("model/model.safetensors"), dir + "/model.safetensors", fs::copy_options::overwrite_existing);
  fs::copy_file(hf_fixture("model/vocab.txt"), dir + "/vocab.txt", fs::copy_options::overwrite_existing);
  lth::write_file_atomic(dir + "/config.json", config.dump());
  return dir;
}

std::string config_error(const nlohmann::json& j) {
  return error_of<lth::ConfigError>([&] { BertConfig::from_json(j, "dir/config.json"); });
}

// The message without the paths it names is a short line.
void check_one_short_line(const std::string& message, const std::vector<std::string>& paths) {
  size_t n = message.size();
  for (const auto& p : paths)
    for (size_t at = message.find(p); at != std::string::npos; at = message.find(p, at + 1)) n -= p.size();
  CHECK(message.find('\n') == std::string::npos);
  CHECK(n < 300);
}

}  // namespace

TEST_SUITE("model") {
  TEST_CASE("config: a non-integer size, bad eps, zero/negative sizes and heads not dividing hidden are refused by field") {
    struct Case {
      const char* field;
      nlohmann::json value;
      const char* phrase;
    };
    const std::vector<Case> cases = {
        {"hidden_size", 32.5, "field 'hidden_size' has the wrong type: expected an integer, got 32.5"},
        {"num_hidden_layers", "2", "field 'num_hidden_layers' has the wrong type: expected an integer"},
        {"vocab_size", 18446744073709551615ull, "field 'vocab_size' is out of range"},
        {"layer_norm_eps", -1, "layer_norm_eps must be in (0, 1), got -1"},
        {"layer_norm_eps", 0, "layer_norm_eps must be in (0, 1), got 0"},
        {"hidden_size", 0, "hidden_size must be positive, got 0"},
        {"intermediate_size", -64, "intermediate_size must be positive, got -64"},
        {"num_attention_heads", 5, "hidden_size 32 is not a multiple of num_attention_heads 5"},
        {"hidden_dropout_prob", 1.5, "hidden_dropout_prob must be in [0, 1), got 1.5"},
        {"classifier_dropout", -0.5, "classifier_dropout must be in [0, 1)"},
        {"vocab_size", 50000000, "vocab_size 50000000 is above lth's limit of 16777216"},
        {"num_hidden_layers", 1000000, "num_hidden_layers 1000000 is above lth's limit of 1024"},
        {"num_labels", 100000000, "num_labels 100000000 must be in [0, 65536]"},
        {"num_labels", -3, "num_labels -3 must be in [0, 65536]"},
        {"is_decoder", 1, "field 'is_decoder' has the wrong type: expected true or false"},
    };
    for (const auto& c : cases) {
      nlohmann::json j = fixture_config();
      j[c.field] = c.value;
      const std::string message = config_error(j);
      INFO(c.field, " = ", c.value.dump(), ": ", message);
      CHECK(message.find("dir/config.json") == 0);
      CHECK(message.find(c.phrase) != std::string::npos);
      check_one_short_line(message, {"dir/config.json"});
    }
    CHECK(BertConfig::from_json(fixture_config(), "x").hidden_size == 32);  // the unmodified config passes
  }

  TEST_CASE("config: encoder_shapes lists exactly the encoder parameters a built model has") {
    const BertConfig config = BertConfig::from_json(fixture_config(), "config.json");
    lth::model::Bert model(config);
    std::map<std::string, std::vector<int64_t>> built;
    for (const auto& item : model->named_parameters()) {
      const std::string& name = item.key();
      if (name.rfind("bert.", 0) == 0 && name.rfind("bert.pooler.", 0) != 0) built[name] = item.value().sizes().vec();
    }
    std::map<std::string, std::vector<int64_t>> implied;
    for (const auto& [name, shape] : lth::model::encoder_shapes(config)) implied[name] = shape;
    CHECK(implied.size() == built.size());
    CHECK(implied == built);
  }

  TEST_CASE("config vs checkpoint: a million layers beside a 2-layer checkpoint fails before any allocation") {
    lth::testing::TempDir tmp("million-layers");
    nlohmann::json j = fixture_config();
    j["num_hidden_layers"] = 1000;  // within the cap: only the checkpoint can tell it is wrong
    const std::string dir = checkpoint_with(tmp, j);
    const std::string message = error_of<lth::IoError>([&] { lth::model::load_pretrained(dir); });
    INFO(message);
    CHECK(message.find(dir + "/config.json does not fit " + dir + "/model.safetensors") == 0);
    CHECK(message.find("num_hidden_layers is 1000 but the checkpoint has 2 layer(s)") != std::string::npos);
    check_one_short_line(message, {dir + "/config.json", dir + "/model.safetensors"});
  }

  TEST_CASE("config vs checkpoint: every size that disagrees with the weights is reported in one line") {
    lth::testing::TempDir tmp("sizes");
    nlohmann::json j = fixture_config();
    j["vocab_size"] = 5000000;
    j["intermediate_size"] = 128;
    j["max_position_embeddings"] = 512;
    const std::string dir = checkpoint_with(tmp, j);
    const std::string message = error_of<lth::IoError>([&] { lth::model::load_pretrained(dir); });
    INFO(message);
    CHECK(message.find("bert.embeddings.word_embeddings.weight has shape 200x32 in the checkpoint, config.json "
                       "implies 5000000x32") != std::string::npos);
    CHECK(message.find("position_embeddings.weight has shape 64x32") != std::string::npos);
    CHECK(message.find("more)") != std::string::npos);  // 4 intermediate/output tensors per layer do not all fit
    check_one_short_line(message, {dir + "/config.json", dir + "/model.safetensors"});
  }

  TEST_CASE("vocab.txt with more tokens than config.json's vocab_size is refused when the tokenizer loads") {
    lth::testing::TempDir tmp("vocab-size");
    nlohmann::json j = fixture_config();
    j["vocab_size"] = 150;  // the fixture's vocab.txt has 200 tokens
    const std::string dir = checkpoint_with(tmp, j);
    const std::string message = error_of<lth::ConfigError>([&] { lth::tokenize::load_tokenizer(dir); });
    INFO(message);
    CHECK(message.find(dir + "/vocab.txt has 200 tokens but " + dir + "/config.json says vocab_size 150") == 0);
    // Equal or smaller vocabularies are fine (HF pads embedding tables).
    j["vocab_size"] = 200;
    CHECK(lth::tokenize::load_tokenizer(checkpoint_with(tmp, j))->vocab_size() == 200);
  }
}
