// Checkpoint loading rules: strict keys (all problems in one error), old LayerNorm names, keys with
// and without "bert.", new heads, and save_pretrained round trips.
#include <doctest/doctest.h>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/inputs.h"
#include "model/load.h"
#include "tests/testing.h"

namespace fs = std::filesystem;
using lth::io::NamedTensors;

using lth::testing::hf_fixture;

namespace {

// Writes a checkpoint dir with the given config and tensors.
std::string write_checkpoint(const lth::testing::TempDir& tmp, const std::string& name, const nlohmann::json& config,
                             const NamedTensors& tensors) {
  const std::string dir = tmp.file(name);
  fs::create_directories(dir);
  lth::write_file_atomic(dir + "/config.json", config.dump());
  lth::io::save_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

NamedTensors fixture_tensors(const std::string& head) {
  lth::io::SafetensorsFile f(hf_fixture(head + "/model.safetensors"));
  return f.load_all();
}

nlohmann::json fixture_config(const std::string& head) { return lth::read_json_file(hf_fixture(head + "/config.json")); }

std::string load_error(const std::string& dir, const lth::model::LoadOptions& options = {}) {
  try {
    lth::model::load_pretrained(dir, options);
  } catch (const lth::Error& e) {
    return e.what();
  }
  return "";
}

bool all_equal(lth::model::Bert& a, lth::model::Bert& b) {
  auto pa = a->named_parameters(), pb = b->named_parameters();
  if (pa.size() != pb.size()) return false;
  for (const auto& item : pa) {
    if (!pb.contains(item.key()) || !torch::equal(item.value(), pb[item.key()])) return false;
  }
  return true;
}

}  // namespace

TEST_SUITE("model") {
  TEST_CASE("every missing and unexpected key is reported in one error") {
    lth::testing::TempDir tmp("strict");
    NamedTensors tensors;
    for (auto& [name, t] : fixture_tensors("model")) {
      if (name == "bert.encoder.layer.0.attention.self.query.weight" || name == "bert.embeddings.LayerNorm.bias") continue;
      tensors.emplace_back(name, t);
    }
    tensors.emplace_back("bert.encoder.layer.7.output.dense.weight", torch::zeros({2, 2}));
    tensors.emplace_back("something.else", torch::zeros({1}));
    const std::string dir = write_checkpoint(tmp, "ckpt", fixture_config("model"), tensors);
    const std::string err = load_error(dir);
    CHECK(err.find(dir) != std::string::npos);
    CHECK(err.find("missing 2 key(s)") != std::string::npos);
    CHECK(err.find("bert.encoder.layer.0.attention.self.query.weight") != std::string::npos);
    CHECK(err.find("bert.embeddings.LayerNorm.bias") != std::string::npos);
    CHECK(err.find("unexpected 2 key(s)") != std::string::npos);
    CHECK(err.find("bert.encoder.layer.7.output.dense.weight") != std::string::npos);
    CHECK(err.find("something.else") != std::string::npos);
  }

  TEST_CASE("an encoder tensor of the wrong shape is refused by name") {
    lth::testing::TempDir tmp("shape");
    NamedTensors tensors = fixture_tensors("model");
    for (auto& [name, t] : tensors)
      if (name == "bert.encoder.layer.1.intermediate.dense.weight") t = torch::zeros({65, 32});
    const std::string err = load_error(write_checkpoint(tmp, "ckpt", fixture_config("model"), tensors));
    CHECK(err.find("bert.encoder.layer.1.intermediate.dense.weight has shape 65x32") != std::string::npos);
  }

  TEST_CASE("keys without the bert. prefix and old gamma/beta names load to the same model") {
    lth::testing::TempDir tmp("names");
    NamedTensors renamed;
    for (auto& [name, t] : fixture_tensors("model")) {
      std::string n = name;
      if (n.rfind("bert.", 0) == 0) n = n.substr(5);
      if (n.size() > 16 && n.compare(n.size() - 16, 16, "LayerNorm.weight") == 0) n = n.substr(0, n.size() - 6) + "gamma";
      else if (n.size() > 14 && n.compare(n.size() - 14, 14, "LayerNorm.bias") == 0) n = n.substr(0, n.size() - 4) + "beta";
      renamed.emplace_back(n, t);
    }
    auto ours = lth::model::load_pretrained(write_checkpoint(tmp, "ckpt", fixture_config("model"), renamed));
    auto reference = lth::model::load_pretrained(hf_fixture("model"));
    CHECK(all_equal(ours, reference));
  }

  TEST_CASE("a new task head is initialised, reported, and the encoder still loads") {
    lth::model::LoadOptions options;
    options.head = lth::model::HeadKind::kSequenceClassification;
    options.labels = std::vector<std::string>{"neg", "pos"};
    lth::model::LoadReport report;
    auto bert = lth::model::load_pretrained(hf_fixture("model-mlm"), options, &report);
    CHECK(bert->config().num_labels() == 2);
    // The MLM checkpoint has no pooler: pooler + classifier are new; the cls.* head is ignored.
    CHECK(report.new_parameters.size() == 4);
    CHECK(report.ignored.size() == 5);
    auto mlm = lth::model::load_pretrained(hf_fixture("model-mlm"));
    CHECK(torch::equal(bert->bert->embeddings->word_embeddings->weight, mlm->bert->embeddings->word_embeddings->weight));
    // A head with another label count than the checkpoint's is new too.
    options.labels = std::vector<std::string>{"a", "b", "c", "d", "e", "f"};
    auto six = lth::model::load_pretrained(hf_fixture("model"), options, &report);
    CHECK(six->classifier->weight.size(0) == 6);
    CHECK(report.new_parameters == std::vector<std::string>{"classifier.weight", "classifier.bias"});
  }

  TEST_CASE("save_pretrained writes HF names and reloads bit for bit") {
    lth::testing::TempDir tmp("save");
    for (const std::string head : {"model", "model-mlm", "model-qa", "model-token"}) {
      CAPTURE(head);
      auto bert = lth::model::load_pretrained(hf_fixture(head));
      const std::string out = tmp.file(head);
      lth::model::save_pretrained(bert, out, hf_fixture(head));
      CHECK(fs::exists(out + "/vocab.txt"));
      lth::io::SafetensorsFile saved(out + "/model.safetensors");
      lth::io::SafetensorsFile original(hf_fixture(head + "/model.safetensors"));
      // Same key set as transformers' own safetensors file (tied MLM decoder aliases omitted).
      std::set<std::string> a, b;
      for (const auto& e : saved.entries()) a.insert(e.name);
      for (const auto& e : original.entries()) b.insert(e.name);
      CHECK(a == b);
      auto again = lth::model::load_pretrained(out);
      CHECK(all_equal(bert, again));
      CHECK(lth::read_json_file(out + "/config.json")["architectures"][0] ==
            fixture_config(head)["architectures"][0]);
    }
  }

  TEST_CASE("config.json problems are named") {
    lth::testing::TempDir tmp("config");
    auto tensors = fixture_tensors("model");
    auto config = fixture_config("model");
    config["position_embedding_type"] = "relative_key";
    CHECK(load_error(write_checkpoint(tmp, "a", config, tensors)).find("position_embedding_type") != std::string::npos);
    config = fixture_config("model");
    config["hidden_act"] = "swiglu";
    CHECK(load_error(write_checkpoint(tmp, "b", config, tensors)).find("hidden_act 'swiglu'") != std::string::npos);
    config = fixture_config("model");
    config["num_attention_heads"] = 5;
    CHECK(load_error(write_checkpoint(tmp, "c", config, tensors)).find("not a multiple") != std::string::npos);
    const std::string dir = write_checkpoint(tmp, "d", fixture_config("model"), tensors);
    lth::write_file_atomic(dir + "/config.json", "{not json");
    const std::string err = load_error(dir);
    CHECK(err.find("config.json") != std::string::npos);
    CHECK(err.find("not valid JSON") != std::string::npos);
  }

  TEST_CASE("inputs are validated against the config") {
    auto config = lth::model::BertConfig::from_file(hf_fixture("model/config.json"));
    auto bad = [&](const char* text) {
      try {
        lth::model::inputs_from_json(nlohmann::json::parse(text), config, "in.json");
      } catch (const lth::IoError& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    CHECK(bad(R"({"input_ids": [[2, 3], [2]]})").find("ragged") != std::string::npos);
    CHECK(bad(R"({"input_ids": [[2, 200]]})").find("outside the vocabulary") != std::string::npos);
    CHECK(bad(R"({"input_ids": [[2, 3]], "token_type_ids": [[0, 2]]})").find("type_vocab_size") != std::string::npos);
    CHECK(bad(R"({"input_ids": [[2, 3]], "attention_mask": [[1, 7]]})").find("mask") != std::string::npos);
    CHECK(bad(R"({"input_ids": [[2, 3.5]]})").find("not an integer") != std::string::npos);
    CHECK(bad(R"({"ids": [[2]]})").find("missing 'input_ids'") != std::string::npos);
    std::string long_row = "{\"input_ids\": [[" + std::string("1,", 0);
    for (int i = 0; i < 65; ++i) long_row += (i ? ",1" : "1");
    long_row += "]]}";
    CHECK(bad(long_row.c_str()).find("max_position_embeddings") != std::string::npos);
    auto ok = lth::model::inputs_from_json(nlohmann::json::parse(R"({"input_ids": [[2, 3]]})"), config, "in.json");
    CHECK(ok.attention_mask.sum().item<int64_t>() == 2);
  }
}
