#include <doctest/doctest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "tests/io/io_testing.h"

using lth::io::read_torch_bin;
using lth::io::testing::bitwise_equal;
using lth::io::testing::expect_io_error;
using lth::io::testing::find_tensor;
using lth::io::testing::fixture;
using lth::io::testing::write_bytes;
using lth::testing::TempDir;

namespace {

// A zip-format torch.save()-compatible file holding `value`.
void write_pickle(const std::string& path, const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  write_bytes(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace

TEST_SUITE("io") {

TEST_CASE("torch bin: fixtures load with the README's names and equal the safetensors files bit for bit") {
  for (const auto& model : lth::io::testing::fixture_models()) {
    INFO(model);
    const auto bin = read_torch_bin(fixture(model + "/pytorch_model.bin"));
    const bool mlm = model == "model-mlm";
    lth::io::testing::check_names_and_shapes(bin, model, /*with_tied_aliases=*/mlm);
    const auto st = lth::io::SafetensorsFile(fixture(model + "/model.safetensors")).load_all();
    CHECK(st.size() + (mlm ? 2 : 0) == bin.size());
    for (const auto& entry : st) {
      const auto& name = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
      const auto& tensor = entry.second;
      INFO(name);
      CHECK(bitwise_equal(find_tensor(bin, name), tensor));
    }
  }
}

TEST_CASE("torch bin: MLM tied aliases are equal to their targets but own their memory") {
  auto bin = read_torch_bin(fixture("model-mlm/pytorch_model.bin"));
  const at::Tensor decoder_w = find_tensor(bin, "cls.predictions.decoder.weight");
  const at::Tensor decoder_b = find_tensor(bin, "cls.predictions.decoder.bias");
  const at::Tensor word = find_tensor(bin, "bert.embeddings.word_embeddings.weight");
  const at::Tensor bias = find_tensor(bin, "cls.predictions.bias");
  CHECK(bitwise_equal(decoder_w, word));
  CHECK(bitwise_equal(decoder_b, bias));
  CHECK(decoder_w.data_ptr() != word.data_ptr());
  CHECK(decoder_b.data_ptr() != bias.data_ptr());
  const at::Tensor before = word.clone();
  decoder_w.add_(1.0f);
  CHECK(bitwise_equal(word, before));
  for (const auto& entry : bin) {
    const auto& name = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
    const auto& t = entry.second;
    INFO(name);
    CHECK(t.is_contiguous());
    CHECK(t.storage().nbytes() == static_cast<size_t>(t.numel()) * t.element_size());  // no shared big storage
  }
}

TEST_CASE("torch bin: damaged or foreign files are rejected cleanly") {
  TempDir dir("bin-damage");
  const std::string valid = lth::read_file(fixture("model/pytorch_model.bin"));

  SUBCASE("missing file") {
    const std::string path = dir.file("absent.bin");
    expect_io_error([&] { read_torch_bin(path); }, path, "cannot open");
  }
  SUBCASE("truncated") {
    for (size_t keep : {valid.size() / 2, valid.size() - 30, size_t{100}}) {
      CAPTURE(keep);
      const std::string path = dir.file("truncated.bin");
      write_bytes(path, valid.substr(0, keep));
      expect_io_error([&] { read_torch_bin(path); }, path, "not a readable PyTorch checkpoint");
    }
  }
  SUBCASE("zip signature followed by garbage") {
    const std::string path = dir.file("garbage-zip.bin");
    write_bytes(path, std::string("PK\x03\x04", 4) + std::string(5000, '\x5a'));
    expect_io_error([&] { read_torch_bin(path); }, path, "not a readable PyTorch checkpoint");
  }
  SUBCASE("pickle bytes damaged inside the archive") {
    std::string bytes = valid;
    const size_t pkl = bytes.find("data.pkl");
    REQUIRE(pkl != std::string::npos);
    for (size_t i = pkl + 80; i < pkl + 400; ++i) bytes[i] = '\xff';  // local header + start of the pickle
    const std::string path = dir.file("damaged.bin");
    write_bytes(path, bytes);
    expect_io_error([&] { read_torch_bin(path); }, path, "not a readable PyTorch checkpoint");
  }
  SUBCASE("not a zip at all") {
    const std::string path = dir.file("garbage.bin");
    write_bytes(path, "this is not a checkpoint\n");
    expect_io_error([&] { read_torch_bin(path); }, path, "not a zip archive");
    write_bytes(path, "");
    expect_io_error([&] { read_torch_bin(path); }, path, "not a zip archive");
  }
  SUBCASE("legacy torch.save format") {
    const std::string path = dir.file("legacy.bin");
    write_bytes(path, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15) + "rest");
    expect_io_error([&] { read_torch_bin(path); }, path, "legacy (non-zip) torch.save format");
    expect_io_error([&] { read_torch_bin(path); }, path, "convert it to safetensors");
  }
  SUBCASE("not a dict") {
    const std::string path = dir.file("list.bin");
    write_pickle(path, c10::IValue(c10::List<int64_t>({1, 2, 3})));
    expect_io_error([&] { read_torch_bin(path); }, path, "not a state dict");
  }
  SUBCASE("a value that is not a tensor") {
    c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
    dict.insert("weight", torch::ones({2}));
    dict.insert("step", int64_t{3});
    const std::string path = dir.file("mixed.bin");
    write_pickle(path, dict);
    expect_io_error([&] { read_torch_bin(path); }, path, "value of 'step' is a Int, expected a tensor");
  }
}

TEST_CASE("torch bin: a dict written by LibTorch reads back in order") {
  TempDir dir("bin-roundtrip");
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("z", torch::arange(6, torch::kLong).reshape({2, 3}));
  dict.insert("a", torch::tensor({true, false}));
  dict.insert("m", torch::randn({4}).to(torch::kHalf));
  const std::string path = dir.file("dict.bin");
  write_pickle(path, dict);
  const auto read = read_torch_bin(path);
  REQUIRE(read.size() == 3);
  CHECK(read[0].first == "z");
  CHECK(read[1].first == "a");
  CHECK(read[2].first == "m");
  for (const auto& [name, t] : read) CHECK(bitwise_equal(t, dict.at(name)));
}

}  // TEST_SUITE
