#include "io/checkpoint.h"

#include <filesystem>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include "io/safetensors.h"
#include "tests/io/io_testing.h"

using lth::io::find_checkpoint;
using lth::io::NamedTensors;
using lth::io::read_weights;
using lth::io::testing::bitwise_equal;
using lth::io::testing::expect_io_error;
using lth::io::testing::fixture;
using lth::io::testing::write_bytes;
using lth::testing::TempDir;

namespace {
namespace fs = std::filesystem;

void copy_config(const std::string& model, const TempDir& dir) {
  fs::copy_file(fixture(model + "/config.json"), dir.file("config.json"));
}

void check_same(const NamedTensors& a, const NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(bitwise_equal(a[i].second, b[i].second));
  }
}

// Splits `tensors` into two shards (first half, second half) and writes an index next to them.
struct Sharded {
  std::vector<NamedTensors> shards{2};
  nlohmann::ordered_json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::ordered_json::object()}};
};

Sharded split(const NamedTensors& tensors, const std::vector<std::string>& shard_names) {
  Sharded s;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t shard = i < tensors.size() / 2 ? 0 : 1;
    s.shards[shard].push_back(tensors[i]);
    s.index["weight_map"][tensors[i].first] = shard_names[shard];
  }
  return s;
}

void write_bin(const std::string& path, const NamedTensors& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t);
  const std::vector<char> bytes = torch::pickle_save(dict);
  write_bytes(path, std::string(bytes.begin(), bytes.end()));
}

const std::vector<std::string> kStShards = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
const std::vector<std::string> kBinShards = {"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"};

// A sharded safetensors checkpoint of model/ in `dir`; `edit` may change shards and index first.
void write_sharded_st(const TempDir& dir, const std::function<void(Sharded&)>& edit = {}) {
  copy_config("model", dir);
  Sharded s = split(lth::io::SafetensorsFile(fixture("model/model.safetensors")).load_all(), kStShards);
  if (edit) edit(s);
  for (size_t i = 0; i < 2; ++i) lth::io::save_safetensors(dir.file(kStShards[i]), s.shards[i], {{"format", "pt"}});
  write_bytes(dir.file("model.safetensors.index.json"), s.index.dump(2));
}

}  // namespace

TEST_SUITE("io") {

TEST_CASE("checkpoint: fixture folders prefer safetensors, and both formats hold the same values") {
  for (const auto& model : lth::io::testing::fixture_models()) {
    INFO(model);
    const std::string dir = fixture(model);
    const auto files = find_checkpoint(dir);
    CHECK(files.format == "safetensors");
    CHECK(files.config_path == dir + "/config.json");
    REQUIRE(files.weight_files.size() == 1);
    CHECK(files.weight_files[0] == dir + "/model.safetensors");
    const NamedTensors st = read_weights(files);
    lth::io::testing::check_names_and_shapes(st, model, /*with_tied_aliases=*/false);

    TempDir bin_only("ckpt-bin");
    copy_config(model, bin_only);
    fs::copy_file(dir + "/pytorch_model.bin", bin_only.file("pytorch_model.bin"));
    const auto bin_files = find_checkpoint(bin_only.path());
    CHECK(bin_files.format == "bin");
    const NamedTensors bin = read_weights(bin_files);
    lth::io::testing::check_names_and_shapes(bin, model, /*with_tied_aliases=*/model == "model-mlm");
    for (const auto& [name, t] : st) CHECK(bitwise_equal(lth::io::testing::find_tensor(bin, name), t));
  }
}

TEST_CASE("checkpoint: sharded safetensors load like the single file") {
  TempDir dir("ckpt-sharded");
  write_sharded_st(dir);
  const auto files = find_checkpoint(dir.path());
  CHECK(files.format == "safetensors-sharded");
  CHECK(files.index_path == dir.file("model.safetensors.index.json"));
  REQUIRE(files.weight_files.size() == 2);
  CHECK(files.weight_files[0] == dir.file(kStShards[0]));
  CHECK(files.weight_files[1] == dir.file(kStShards[1]));
  CHECK(files.weight_map.size() == 41);
  check_same(read_weights(files), read_weights(find_checkpoint(fixture("model"))));
}

TEST_CASE("checkpoint: sharded pytorch_model.bin load like the single file") {
  TempDir dir("ckpt-bin-sharded");
  copy_config("model-mlm", dir);
  const NamedTensors all = lth::io::read_torch_bin(fixture("model-mlm/pytorch_model.bin"));
  Sharded s = split(all, kBinShards);
  for (size_t i = 0; i < 2; ++i) write_bin(dir.file(kBinShards[i]), s.shards[i]);
  write_bytes(dir.file("pytorch_model.bin.index.json"), s.index.dump());
  const auto files = find_checkpoint(dir.path());
  CHECK(files.format == "bin-sharded");
  check_same(read_weights(files), all);
}

TEST_CASE("checkpoint: missing or unusable directories") {
  TempDir dir("ckpt-errors");

  SUBCASE("directory missing") {
    const std::string path = dir.file("nowhere");
    expect_io_error([&] { find_checkpoint(path); }, path, "does not exist");
  }
  SUBCASE("a file, not a directory") {
    const std::string path = fixture("model/config.json");
    expect_io_error([&] { find_checkpoint(path); }, path, "not a directory");
  }
  SUBCASE("no config.json") {
    fs::copy_file(fixture("model/model.safetensors"), dir.file("model.safetensors"));
    expect_io_error([&] { find_checkpoint(dir.path()); }, dir.path(), "no config.json");
  }
  SUBCASE("no weights: lists what was looked for") {
    copy_config("model", dir);
    for (const char* phrase : {"has no weights", "model.safetensors,", "model.safetensors.index.json",
                               "pytorch_model.bin,", "pytorch_model.bin.index.json"})
      expect_io_error([&] { find_checkpoint(dir.path()); }, dir.path(), phrase);
  }
  SUBCASE("damaged weight file surfaces the file's own error") {
    copy_config("model", dir);
    write_bytes(dir.file("model.safetensors"), "tiny");
    const auto files = find_checkpoint(dir.path());
    expect_io_error([&] { read_weights(files); }, dir.file("model.safetensors"), "too short");
  }
  SUBCASE("damaged .bin surfaces the file's own error") {
    copy_config("model", dir);
    write_bytes(dir.file("pytorch_model.bin"), lth::read_file(fixture("model/pytorch_model.bin")).substr(0, 5000));
    const auto files = find_checkpoint(dir.path());
    expect_io_error([&] { read_weights(files); }, dir.file("pytorch_model.bin"), "not a readable PyTorch checkpoint");
  }
}

TEST_CASE("checkpoint: damaged sharded checkpoints") {
  TempDir dir("ckpt-shard-errors");
  const std::string index = dir.file("model.safetensors.index.json");

  SUBCASE("index not valid JSON") {
    write_sharded_st(dir);
    write_bytes(index, "{\"weight_map\": {\"a\": ");
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "not valid JSON");
  }
  SUBCASE("index not an object") {
    write_sharded_st(dir);
    write_bytes(index, "[]");
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "expected an object");
  }
  SUBCASE("index without weight_map") {
    write_sharded_st(dir, [](Sharded& s) { s.index.erase("weight_map"); });
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "no 'weight_map'");
  }
  SUBCASE("weight_map of the wrong type") {
    write_sharded_st(dir, [](Sharded& s) { s.index["weight_map"] = {kStShards[0]}; });
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "'weight_map' is a JSON array");
  }
  SUBCASE("weight_map empty") {
    write_sharded_st(dir, [](Sharded& s) { s.index["weight_map"] = nlohmann::ordered_json::object(); });
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "lists no tensors");
  }
  SUBCASE("weight_map value not a string") {
    write_sharded_st(dir, [](Sharded& s) { s.index["weight_map"]["classifier.bias"] = 2; });
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "entry 'classifier.bias' is a JSON number");
  }
  SUBCASE("shard outside the directory") {
    write_sharded_st(dir, [](Sharded& s) { s.index["weight_map"]["classifier.bias"] = "../x.safetensors"; });
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "outside the checkpoint directory");
  }
  SUBCASE("shard missing") {
    write_sharded_st(dir);
    fs::remove(dir.file(kStShards[1]));
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, "missing");
    expect_io_error([&] { find_checkpoint(dir.path()); }, index, kStShards[1]);
  }
  SUBCASE("tensor listed in the index but absent from its shard") {
    write_sharded_st(dir, [](Sharded& s) { s.shards[1].pop_back(); });  // classifier.weight
    const auto files = find_checkpoint(dir.path());
    expect_io_error([&] { read_weights(files); }, index, "absent from their shard: 'classifier.weight'");
  }
  SUBCASE("tensor listed under the wrong shard") {
    write_sharded_st(dir, [](Sharded& s) { s.index["weight_map"]["classifier.weight"] = kStShards[0]; });
    const auto files = find_checkpoint(dir.path());
    expect_io_error([&] { read_weights(files); }, index, "'classifier.weight' (in " + dir.file(kStShards[0]) + ")");
  }
  SUBCASE("tensor duplicated across shards") {
    write_sharded_st(dir, [](Sharded& s) { s.shards[1].push_back(s.shards[0].front()); });
    const auto files = find_checkpoint(dir.path());
    expect_io_error([&] { read_weights(files); }, dir.path(),
                    "tensor 'bert.embeddings.LayerNorm.bias' is duplicated across shards");
  }
  SUBCASE("damaged shard") {
    write_sharded_st(dir);
    write_bytes(dir.file(kStShards[1]), std::string(16, '\xff'));
    const auto files = find_checkpoint(dir.path());
    expect_io_error([&] { read_weights(files); }, dir.file(kStShards[1]), "is absurd");
  }
}

}  // TEST_SUITE
