// Bounded recursion and allocation in the readers: pickles nested past LibTorch's recursion, zip
// directories claiming terabytes, views larger than their storage, JSON nested 100k deep, and the
// message clipping every reader uses for quoted values.
#include <doctest/doctest.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "tests/io/io_testing.h"

using lth::testing::error_of;

using lth::io::read_torch_bin;
using lth::io::testing::expect_io_error;
using lth::io::testing::write_bytes;
using lth::testing::TempDir;

namespace {

// A torch.save()-layout zip whose data.pkl is exactly `pickle` (no tensors).
void write_archive(const std::string& path, const std::string& pickle) {
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
}

std::string pickle_save_bytes(const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  return std::string(bytes.begin(), bytes.end());
}

size_t message_size_without(const std::string& message, const std::string& path) {
  size_t n = message.size();
  for (size_t at = message.find(path); at != std::string::npos; at = message.find(path, at + 1)) n -= path.size();
  return n;
}

}  // namespace

TEST_SUITE("io") {

TEST_CASE("torch bin: a pickle nesting a tuple 300k deep is refused before LibTorch unpickles it") {
  TempDir tmp("deep-pickle");
  const std::string path = tmp.file("pytorch_model.bin");
  // PROTO 2, None, then TUPLE1 300k times: (((None,),),...) as in the segfaulting file.
  write_archive(path, std::string("\x80\x02N", 3) + std::string(300000, '\x85') + ".");
  expect_io_error([&] { read_torch_bin(path); }, path, "nests containers deeper than 200 levels");
}

TEST_CASE("torch bin: nesting through MARK/TUPLE, lists and memoised containers filled late is counted too") {
  TempDir tmp("deep-pickle-2");
  const std::string path = tmp.file("pytorch_model.bin");
  std::string marks = "\x80\x02";
  for (int i = 0; i < 1000; ++i) marks += "(";
  marks += "N";
  for (int i = 0; i < 1000; ++i) marks += "t";
  write_archive(path, marks + ".");
  expect_io_error([&] { read_torch_bin(path); }, path, "nests containers deeper");

  // Each list is memoised while empty and only filled (with the previous one) afterwards: depth
  // known at memo time is 1, the real nesting 1000.
  std::string late("\x80\x02]q\x00", 5);  // list 0, memo 0
  for (int i = 1; i < 1000; ++i) {
    late += "]r" + std::string(reinterpret_cast<const char*>(&i), 4);  // new list, LONG_BINPUT i
    const int prev = i - 1;
    late += "j" + std::string(reinterpret_cast<const char*>(&prev), 4) + "a";  // LONG_BINGET prev, APPEND
  }
  const std::string late_path = tmp.file("late.bin");
  write_archive(late_path, late + ".");
  expect_io_error([&] { read_torch_bin(late_path); }, late_path, "nests containers deeper");

  // A list appended to itself nests without end.
  const std::string self_path = tmp.file("self.bin");
  write_archive(self_path, std::string("\x80\x02]q\x00h\x00" "a.", 8));
  expect_io_error([&] { read_torch_bin(self_path); }, self_path, "nests containers deeper");
}

TEST_CASE("torch bin: modest nesting still reaches the state-dict check") {
  TempDir tmp("ok-pickle");
  const std::string path = tmp.file("pytorch_model.bin");
  write_archive(path, std::string("\x80\x02N", 3) + std::string(50, '\x85') + ".");
  expect_io_error([&] { read_torch_bin(path); }, path, "not a state dict");
}

TEST_CASE("torch bin: truncated and unknown pickle opcodes are named") {
  TempDir tmp("bad-pickle");
  const std::string path = tmp.file("pytorch_model.bin");
  write_archive(path, std::string("\x80\x02X\xff\xff\x00\x00" "ab", 9));
  expect_io_error([&] { read_torch_bin(path); }, path, "data.pkl is truncated");
  write_archive(path, std::string("\x80\x02\xf0.", 4));
  expect_io_error([&] { read_torch_bin(path); }, path, "unknown opcode 0xf0");
  write_archive(path, std::string("\x80\x02h\x07.", 5));
  expect_io_error([&] { read_torch_bin(path); }, path, "memo entry 7");
  // Fuzz finding: LONG_BINPUT with id 2^27 made LibTorch reserve 2^28 memo slots (4 GB).
  write_archive(path, std::string("\x80\x02Nr\x00\x00\x00\x08.", 9));
  expect_io_error([&] { read_torch_bin(path); }, path, "stores memo id 134217728");
}

TEST_CASE("torch bin: a zip entry claiming more bytes than the file holds is refused before allocation") {
  TempDir tmp("zip-claims");
  const std::string path = tmp.file("pytorch_model.bin");
  std::string bytes = pickle_save_bytes(c10::IValue(c10::List<int64_t>({1, 2, 3})));
  // Central directory entries: signature PK\1\2; uncompressed size at +24. Claim 2 GB for each.
  size_t patched = 0;
  for (size_t at = bytes.find("PK\x01\x02", 0, 4); at != std::string::npos; at = bytes.find("PK\x01\x02", at + 4, 4)) {
    bytes[at + 24] = '\xff', bytes[at + 25] = '\xff', bytes[at + 26] = '\xff', bytes[at + 27] = '\x7f';
    ++patched;
  }
  REQUIRE(patched > 0);
  write_bytes(path, bytes);
  expect_io_error([&] { read_torch_bin(path); }, path, "damaged zip archive");
}

TEST_CASE("torch bin: a tensor view larger than its storage is refused, not copied out") {
  TempDir tmp("big-view");
  const std::string path = tmp.file("pytorch_model.bin");
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("w", torch::ones({1}).expand({1 << 20}));  // 1M elements over a 1-element storage
  write_bytes(path, pickle_save_bytes(c10::IValue(dict)));
  expect_io_error([&] { read_torch_bin(path); }, path, "has 1048576 elements but its storage holds 1");
}

TEST_CASE("torch bin: a quantized storage type (fuzz finding: LibTorch asserted inside clone) is an IoError") {
  TempDir tmp("quantized");
  const std::string path = tmp.file("pytorch_model.bin");
  std::string bytes = lth::read_file(lth::io::testing::fixture("model/pytorch_model.bin"));
  const size_t at = bytes.find("FloatStorage");
  REQUIRE(at != std::string::npos);
  bytes.replace(at, 12, "QInt8Storage");  // same length: the zip stays intact
  write_bytes(path, bytes);
  expect_io_error([&] { read_torch_bin(path); }, path, "is sparse or quantized; lth reads dense tensors");
}

TEST_CASE("json: 100k nested brackets are refused before parsing, naming the file and the byte") {
  TempDir tmp("deep-json");
  const std::string path = tmp.file("config.json");
  lth::write_file_atomic(path, std::string(100000, '[') + std::string(100000, ']'));
  expect_io_error([&] { lth::read_json_file(path); }, path, "nests deeper than 256 levels (byte 256)");
  // Brackets inside strings (also after escaped quotes) do not count; 256 levels are fine.
  const std::string ok = std::string(255, '[') + "\"[[\\\"[[{{\"" + std::string(255, ']');
  CHECK(lth::parse_json_text(ok, "x").is_array());
  CHECK(lth::json_nesting_depth(ok.data(), ok.data() + ok.size(), 1000) == 255);
}

TEST_CASE("json: a number beyond double range (fuzz finding: nlohmann's out_of_range escaped) is an IoError") {
  TempDir tmp("json-overflow");
  const std::string path = tmp.file("dev.json");
  lth::write_file_atomic(path, "{\"data\": 1e999}");
  expect_io_error([&] { lth::read_json_file(path); }, path, "number overflow");
  // The fuzzer's input, as committed under fuzz/regressions.
  const std::string found = lth::testing::source_dir() + "/fuzz/regressions/fuzz_squad/number-overflow.json";
  expect_io_error([&] { lth::read_json_file(found); }, found, "not valid JSON");
}

TEST_CASE("json: a parse error quoting a long token stays one short line") {
  TempDir tmp("long-token");
  const std::string path = tmp.file("inputs.json");
  lth::write_file_atomic(path, "{\"a\": \"" + std::string(50000, 'x') + "\x01\"}");
  const std::string message = error_of<lth::IoError>([&] { lth::read_json_file(path); });
  INFO(message);
  CHECK(message.find(path) != std::string::npos);
  CHECK(message_size_without(message, path) < 300);
}

TEST_CASE("safetensors: a header nested 100k deep is refused; long values are clipped in messages") {
  TempDir tmp("deep-header");
  const std::string path = tmp.file("model.safetensors");
  auto write_header = [&](const std::string& header) {
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) bytes[static_cast<size_t>(i)] = static_cast<char>(n & 0xff);
    write_bytes(path, bytes + header);
  };
  write_header("{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  expect_io_error([&] { lth::io::SafetensorsFile f(path); }, path, "nests deeper than");
  write_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": \"" + std::string(20000, 'y') + "\"}}");
  const std::string message = error_of<lth::IoError>([&] { lth::io::SafetensorsFile f(path); });
  INFO(message);
  CHECK(message.find("data_offsets") != std::string::npos);
  CHECK(message_size_without(message, path) < 300);
  write_header("{\"" + std::string(20000, 'n') + "\": {\"dtype\": \"Q8\", \"shape\": [], \"data_offsets\": [0, 0]}}");
  const std::string name_message = error_of<lth::IoError>([&] { lth::io::SafetensorsFile f(path); });
  INFO(name_message);
  CHECK(name_message.find("unknown dtype 'Q8'") != std::string::npos);
  CHECK(message_size_without(name_message, path) < 300);
}

TEST_CASE("clip: control characters are escaped, long text cut at a character boundary") {
  CHECK(lth::clip("a\nb\tc\x01") == "a\\nb\\tc\\x01");
  CHECK(lth::clip(std::string(100, 'z'), 10) == std::string(10, 'z') + "...");
  // "é" is two bytes: a cut after byte 3 of "aaé" (bytes a a C3 A9) backs up to keep it whole or drop it.
  CHECK(lth::clip("aa\xc3\xa9", 3) == "aa...");
  CHECK(lth::clip("short") == "short");
  // The budget counts escaped output (fuzz finding: 60 control bytes became a 240-byte quote).
  const std::string escaped = lth::clip(std::string(100, '\x1e'), 60);
  CHECK(escaped.size() <= 63);
  CHECK(escaped.rfind("\\x1e", 0) == 0);
}

}  // TEST_SUITE
