#include "io/safetensors.h"

#include <limits>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "tests/io/io_testing.h"

using lth::io::SafetensorsFile;
using lth::io::save_safetensors;
using lth::io::testing::bitwise_equal;
using lth::io::testing::expect_io_error;
using lth::io::testing::fixture;
using lth::io::testing::write_bytes;
using lth::testing::TempDir;

namespace {

using Json = nlohmann::ordered_json;

std::string le64(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i, n >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(n & 0xff);
  return out;
}

uint64_t read_le64(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  return n;
}

// A valid file split into its header text and data buffer.
struct RawFile {
  std::string header;
  std::string data;

  static RawFile read(const std::string& path) {
    const std::string bytes = lth::read_file(path);
    const uint64_t n = read_le64(bytes);
    return {bytes.substr(8, n), bytes.substr(8 + n)};
  }
  std::string bytes() const { return le64(header.size()) + header + data; }
};

const std::string& valid_path() {
  static const std::string kPath = fixture("model/model.safetensors");
  return kPath;
}

// Writes the valid fixture with its header replaced by `edit(header)` and returns the new path.
std::string with_header_json(const TempDir& dir, const std::function<void(Json&)>& edit) {
  RawFile raw = RawFile::read(valid_path());
  Json header = Json::parse(raw.header);
  edit(header);
  raw.header = header.dump();
  const std::string path = dir.file("damaged.safetensors");
  write_bytes(path, raw.bytes());
  return path;
}

std::string with_header_text(const TempDir& dir, const std::function<void(std::string&)>& edit) {
  RawFile raw = RawFile::read(valid_path());
  edit(raw.header);
  const std::string path = dir.file("damaged.safetensors");
  write_bytes(path, raw.bytes());
  return path;
}

void expect_open_error(const std::string& path, const std::string& phrase) {
  expect_io_error([&] { SafetensorsFile f(path); }, path, phrase);
}

constexpr const char* kFirst = "bert.embeddings.LayerNorm.bias";    // F32 [32], data_offsets [0, 128]
constexpr const char* kSecond = "bert.embeddings.LayerNorm.weight";  // F32 [32], data_offsets [128, 256]

}  // namespace

TEST_SUITE("io") {

TEST_CASE("safetensors: reads the fixture headers") {
  for (const auto& model : lth::io::testing::fixture_models()) {
    SafetensorsFile f(fixture(model + "/model.safetensors"));
    CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
    CHECK(f.contains(kFirst));
    CHECK_FALSE(f.contains("nope"));
    const auto& e = f.entry(kFirst);
    CHECK(e.dtype == "F32");
    CHECK(e.shape == std::vector<int64_t>{32});
    CHECK(e.begin == 0);
    CHECK(e.end == 128);
    expect_io_error([&] { f.entry("nope"); }, f.path(), "no tensor named 'nope'");
    expect_io_error([&] { f.load("nope"); }, f.path(), "no tensor named 'nope'");
    const auto tensors = f.load_all();
    lth::io::testing::check_names_and_shapes(tensors, model, /*with_tied_aliases=*/false);
    REQUIRE(tensors.size() == f.entries().size());
    for (size_t i = 0; i < tensors.size(); ++i) CHECK(tensors[i].first == f.entries()[i].name);  // header order
    CHECK(torch::equal(f.load(kSecond), lth::io::testing::find_tensor(tensors, kSecond)));
  }
}

TEST_CASE("safetensors: loaded tensors own their memory and outlive the file") {
  at::Tensor t;
  {
    SafetensorsFile f(valid_path());
    t = f.load("bert.embeddings.word_embeddings.weight");
  }
  CHECK(t.is_contiguous());
  CHECK(t.sizes() == at::IntArrayRef({200, 32}));
  CHECK(std::isfinite(t.sum().item<float>()));
  t.add_(1.0f);  // owns its memory: not a view into the mapping (map_all gives those)
}

TEST_CASE("safetensors: writer round trip for every dtype, with metadata") {
  TempDir dir("st-roundtrip");
  torch::manual_seed(7);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", torch::tensor({1.5f, -0.0f, inf, -inf, nan, 1e-40f})},
      {"f16", torch::randn({3, 4}).to(torch::kHalf)},
      {"bf16", torch::randn({2, 3, 2}).to(torch::kBFloat16)},
      {"f64", torch::tensor({3.141592653589793, -1e300, 5e-324}, torch::kDouble)},
      {"i64", torch::tensor({std::numeric_limits<int64_t>::min(), int64_t{0}, std::numeric_limits<int64_t>::max()})},
      {"i32", torch::tensor({std::numeric_limits<int32_t>::min(), 7, std::numeric_limits<int32_t>::max()}, torch::kInt)},
      {"i8", torch::tensor({-128, 0, 127}, torch::kChar)},
      {"u8", torch::tensor({0, 1, 255}, torch::kByte)},
      {"bool", torch::tensor({true, false, true, true})},
      {"scalar", torch::tensor(2.5f)},
      {"empty", torch::zeros({0, 3})},
      {"transposed", torch::arange(12, torch::kFloat).reshape({3, 4}).t()},  // non-contiguous input
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "unicode \xc3\xa9 \"quoted\""}};
  const std::string path = dir.file("all.safetensors");
  save_safetensors(path, tensors, metadata);

  SafetensorsFile f(path);
  CHECK(f.metadata() == metadata);
  REQUIRE(f.entries().size() == tensors.size());
  const std::vector<std::string> dtypes = {"F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL", "F32",
                                           "F32", "F32"};
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& e = f.entries()[i];
    INFO(e.name);
    CHECK(e.name == tensors[i].first);  // given order
    CHECK(e.dtype == dtypes[i]);
    CHECK(e.begin == offset);  // contiguous offsets
    offset = e.end;
    const at::Tensor loaded = f.load(e.name);
    CHECK(loaded.device().is_cpu());
    CHECK(bitwise_equal(loaded, tensors[i].second));
    CHECK((lth::io::scalar_type_from_dtype(e.dtype) == tensors[i].second.scalar_type()));
    CHECK(lth::io::dtype_from_scalar_type(tensors[i].second.scalar_type()) == e.dtype);
  }

  // Raw layout: header length is a multiple of 8, padded with spaces, data buffer is exactly the tensors.
  const RawFile raw = RawFile::read(path);
  CHECK(raw.header.size() % 8 == 0);
  CHECK(raw.header.front() == '{');
  CHECK(raw.data.size() == offset);
  const auto parsed = nlohmann::json::parse(raw.header);
  CHECK(parsed["__metadata__"]["note"] == metadata.at("note"));
  CHECK(parsed["bool"]["shape"] == nlohmann::json::array({4}));
  CHECK(parsed["scalar"]["shape"] == nlohmann::json::array());
}

TEST_CASE("safetensors: map_all reads the mapping in place, copy-on-write, and equals load_all") {
  TempDir dir("st-map");
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", torch::arange(6, torch::kFloat)},                        // data offset 0
      {"f16", torch::randn({3, 4}).to(torch::kHalf)},                  // 24
      {"f64", torch::tensor({3.141592653589793, -1e300}, torch::kDouble)},  // 48
      {"u8", torch::tensor({0, 1, 255}, torch::kByte)},                // 64
      {"odd", torch::tensor({1.25f, -2.5f})},                          // 67: not float-aligned, copied
      {"bool", torch::tensor({true, false, true})},                    // 75: normalised, copied
      {"empty", torch::zeros({0, 3})},
  };
  const std::string path = dir.file("map.safetensors");
  save_safetensors(path, tensors);
  std::vector<std::pair<std::string, at::Tensor>> mapped;
  std::vector<std::pair<std::string, at::Tensor>> copied;
  {
    SafetensorsFile f(path);
    mapped = f.map_all();
    copied = f.load_all();
  }  // the mapped tensors outlive the file object
  REQUIRE(mapped.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO(tensors[i].first);
    CHECK(mapped[i].first == tensors[i].first);
    CHECK(bitwise_equal(mapped[i].second, tensors[i].second));
    CHECK(bitwise_equal(mapped[i].second, copied[i].second));
  }
  // In place: neighbours in the file are neighbours in memory (two copies could not be 24 bytes apart).
  const auto* f32 = static_cast<const char*>(mapped[0].second.data_ptr());
  CHECK(static_cast<const char*>(mapped[1].second.data_ptr()) - f32 == 24);
  CHECK(static_cast<const char*>(mapped[2].second.data_ptr()) - f32 == 48);
  CHECK(reinterpret_cast<uintptr_t>(mapped[4].second.data_ptr()) % alignof(float) == 0);  // the copy is aligned
  // Writing to a mapped tensor changes neither the file nor its neighbours.
  mapped[0].second.add_(100.0f);
  mapped[2].second.mul_(2.0);
  CHECK(bitwise_equal(mapped[1].second, tensors[1].second));
  mapped.clear();  // releases the pages and the mapping
  SafetensorsFile again(path);
  CHECK(bitwise_equal(again.load("f32"), tensors[0].second));
  CHECK(bitwise_equal(again.load("f64"), tensors[2].second));
  const auto remapped = again.map_all();
  CHECK(bitwise_equal(remapped[0].second, tensors[0].second));
}

TEST_CASE("safetensors: no metadata writes no __metadata__; header padding is spaces") {
  TempDir dir("st-nometa");
  const std::string path = dir.file("a.safetensors");
  save_safetensors(path, {{"x", torch::ones({3})}});  // header {"x":{...}} is not a multiple of 8 unpadded
  const RawFile raw = RawFile::read(path);
  CHECK(raw.header.find("__metadata__") == std::string::npos);
  CHECK(raw.header.size() % 8 == 0);
  const std::string trimmed = nlohmann::json::parse(raw.header).dump();
  CHECK(raw.header.substr(trimmed.size()) == std::string(raw.header.size() - trimmed.size(), ' '));
  CHECK(SafetensorsFile(path).metadata().empty());

  save_safetensors(path, {});  // an empty file is valid: header {} padded
  CHECK(SafetensorsFile(path).entries().empty());
}

TEST_CASE("safetensors: fixtures re-written by our writer reload bit-identically") {
  TempDir dir("st-rewrite");
  for (const auto& model : lth::io::testing::fixture_models()) {
    const std::string original = fixture(model + "/model.safetensors");
    SafetensorsFile in(original);
    const auto tensors = in.load_all();
    const std::string path = dir.file(model + ".safetensors");
    save_safetensors(path, tensors, in.metadata());
    SafetensorsFile out(path);
    CHECK(out.metadata() == in.metadata());
    const auto reloaded = out.load_all();
    REQUIRE(reloaded.size() == tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      CHECK(reloaded[i].first == tensors[i].first);
      CHECK(bitwise_equal(reloaded[i].second, tensors[i].second));
    }
    // Same tensor order, same offsets, same data bytes as the reference writer.
    for (size_t i = 0; i < tensors.size(); ++i) {
      CHECK(out.entries()[i].begin == in.entries()[i].begin);
      CHECK(out.entries()[i].end == in.entries()[i].end);
    }
    CHECK(RawFile::read(path).data == RawFile::read(original).data);
    CHECK(lth::read_file(path) == lth::read_file(original));
  }
}

TEST_CASE("safetensors: writer refuses bad input and leaves no file") {
  TempDir dir("st-writer-errors");
  const std::string path = dir.file("bad.safetensors");
  expect_io_error([&] { save_safetensors(path, {{"a", torch::ones({2})}, {"a", torch::ones({2})}}); }, path,
                  "duplicate tensor name 'a'");
  expect_io_error([&] { save_safetensors(path, {{"m", torch::empty({2}, torch::Device(torch::kMeta))}}); }, path,
                  "only CPU tensors");
  expect_io_error([&] { save_safetensors(path, {{"s", torch::ones({2}, torch::kShort)}}); }, path,
                  "unsupported dtype");
  expect_io_error([&] { save_safetensors(path, {{"c", torch::ones({2}, torch::kComplexFloat)}}); }, path,
                  "unsupported dtype");
  expect_io_error([&] { save_safetensors(path, {{"__metadata__", torch::ones({2})}}); }, path, "reserved");
  expect_io_error([&] { save_safetensors(path, {{"u", at::Tensor()}}); }, path, "undefined");
  CHECK_FALSE(lth::path_exists(path));
  CHECK_THROWS_AS(lth::io::dtype_from_scalar_type(torch::kShort), lth::IoError);
  CHECK_THROWS_AS(lth::io::scalar_type_from_dtype("F8_E4M3"), lth::IoError);

  // Writing over an existing file replaces it atomically; a failed write keeps the old one.
  save_safetensors(path, {{"x", torch::ones({2})}});
  CHECK_THROWS_AS(save_safetensors(path, {{"y", torch::ones({2}, torch::kShort)}}), lth::IoError);
  CHECK(SafetensorsFile(path).contains("x"));
}

TEST_CASE("safetensors: every kind of damage is rejected with the path and the problem") {
  TempDir dir("st-damage");

  SUBCASE("missing file") {
    const std::string path = dir.file("absent.safetensors");
    expect_open_error(path, "cannot open");
  }
  SUBCASE("a directory") { expect_open_error(dir.path(), "not a regular file"); }
  SUBCASE("shorter than 8 bytes") {
    const std::string path = dir.file("short.safetensors");
    write_bytes(path, lth::read_file(valid_path()).substr(0, 5));
    expect_open_error(path, "too short");
    write_bytes(path, "");
    expect_open_error(path, "too short");
  }
  SUBCASE("header length past the end of the file") {
    const std::string path = dir.file("long.safetensors");
    std::string bytes = lth::read_file(valid_path());
    bytes.replace(0, 8, le64(bytes.size() - 7));
    write_bytes(path, bytes);
    expect_open_error(path, "runs past the end of the file");
  }
  SUBCASE("absurd header length") {
    const std::string path = dir.file("absurd.safetensors");
    std::string bytes = lth::read_file(valid_path());
    bytes.replace(0, 8, le64(~uint64_t{0}));
    write_bytes(path, bytes);
    expect_open_error(path, "is absurd");
  }
  SUBCASE("file truncated inside the data buffer") {
    const std::string path = dir.file("cut.safetensors");
    const std::string bytes = lth::read_file(valid_path());
    write_bytes(path, bytes.substr(0, bytes.size() - 100));
    expect_open_error(path, "out of bounds of the data buffer");
  }
  SUBCASE("header not valid JSON") {
    const std::string path = with_header_text(dir, [](std::string& h) { h[h.find("\"shape\"")] = '#'; });
    expect_open_error(path, "header is not valid JSON (file byte");
  }
  SUBCASE("header truncated JSON") {
    const std::string path = with_header_text(dir, [](std::string& h) { h = h.substr(0, 40); });
    expect_open_error(path, "not valid JSON");
  }
  SUBCASE("header not an object") {
    const std::string path = with_header_text(dir, [](std::string& h) { h = "[1, 2, 3]"; });
    expect_open_error(path, "not a JSON object");
  }
  SUBCASE("entry not an object") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst] = "F32"; });
    expect_open_error(path, std::string("tensor '") + kFirst + "': entry is a JSON string, expected an object");
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    SUBCASE((std::string("entry missing ") + key).c_str()) {
      const std::string path = with_header_json(dir, [&](Json& h) { h[kSecond].erase(key); });
      expect_open_error(path, std::string("tensor '") + kSecond + "': missing '" + key + "'");
    }
  }
  SUBCASE("dtype not a string") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["dtype"] = 32; });
    expect_open_error(path, "'dtype' is a JSON number, expected a string");
  }
  SUBCASE("shape not an array") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["shape"] = "32"; });
    expect_open_error(path, "'shape' is a JSON string, expected an array");
  }
  SUBCASE("shape element not an integer") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["shape"] = {32.0}; });
    expect_open_error(path, "shape[0] is a JSON number, expected an integer");
  }
  SUBCASE("data_offsets wrong length") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["data_offsets"] = {0, 64, 128}; });
    expect_open_error(path, "'data_offsets' must be an array of two integers");
  }
  SUBCASE("data_offsets not integers") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["data_offsets"] = {"0", 128}; });
    expect_open_error(path, "data_offsets[0] is \"0\", expected a non-negative integer");
  }
  SUBCASE("negative data offset") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["data_offsets"] = {-128, 0}; });
    expect_open_error(path, "expected a non-negative integer");
  }
  SUBCASE("unknown dtype") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kSecond]["dtype"] = "F8_E5M2"; });
    expect_open_error(path, std::string("tensor '") + kSecond + "': unknown dtype 'F8_E5M2'");
  }
  SUBCASE("lower-case dtype is unknown") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kSecond]["dtype"] = "f32"; });
    expect_open_error(path, "unknown dtype 'f32'");
  }
  SUBCASE("negative dimension") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["shape"] = {-32}; });
    expect_open_error(path, "negative dimension -32");
  }
  SUBCASE("element count overflow") {
    const std::string path = with_header_json(dir, [](Json& h) {
      h[kFirst]["shape"] = {uint64_t{1} << 32, uint64_t{1} << 32, 16};
    });
    expect_open_error(path, "element count overflows");
  }
  SUBCASE("byte size overflow") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["shape"] = {uint64_t{1} << 61, 2}; });
    expect_open_error(path, "byte size overflows");
  }
  SUBCASE("dimension beyond int64") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["shape"] = {~uint64_t{0}}; });
    expect_open_error(path, "too large");
  }
  SUBCASE("data_offsets past the data buffer") {
    const uint64_t data_size = RawFile::read(valid_path()).data.size();
    const std::string path = with_header_json(dir, [&](Json& h) {
      h[kFirst]["data_offsets"] = {data_size - 128 + 4, data_size + 4};
    });
    expect_open_error(path, "out of bounds of the data buffer");
  }
  SUBCASE("data_offsets end before begin") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["data_offsets"] = {128, 0}; });
    expect_open_error(path, "data_offsets end 0 < begin 128");
  }
  SUBCASE("byte count does not match the shape") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["shape"] = {31}; });
    expect_open_error(path, "byte count mismatch");
  }
  SUBCASE("byte count does not match the dtype") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kFirst]["dtype"] = "F64"; });
    expect_open_error(path, "byte count mismatch");
  }
  SUBCASE("overlapping tensor ranges") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kSecond]["data_offsets"] = {64, 192}; });
    expect_open_error(path, "overlapping data ranges");
  }
  SUBCASE("two tensors on the same bytes") {
    const std::string path = with_header_json(dir, [](Json& h) { h[kSecond]["data_offsets"] = {0, 128}; });
    expect_open_error(path, "overlapping data ranges");
  }
  SUBCASE("__metadata__ not a map") {
    const std::string path = with_header_json(dir, [](Json& h) { h["__metadata__"] = "pt"; });
    expect_open_error(path, "__metadata__ is a JSON string, expected a string->string map");
  }
  SUBCASE("__metadata__ value not a string") {
    const std::string path = with_header_json(dir, [](Json& h) { h["__metadata__"]["format"] = 1; });
    expect_open_error(path, "__metadata__ value of 'format' is a JSON number, expected a string");
  }
  SUBCASE("duplicate tensor name") {
    const std::string path = with_header_text(dir, [](std::string& h) {
      const std::string from = std::string("\"") + kSecond + "\"", to = std::string("\"") + kFirst + "\"";
      h.replace(h.find(from), from.size(), to);
    });
    expect_open_error(path, std::string("duplicate tensor name '") + kFirst + "'");
  }
  SUBCASE("duplicate key inside an entry") {
    const std::string path = with_header_text(dir, [](std::string& h) {
      const std::string from = "\"dtype\":\"F32\",";
      h.replace(h.find(from), from.size(), from + from);
    });
    expect_open_error(path, "duplicate key 'dtype'");
  }
}

TEST_CASE("safetensors: BOOL bytes other than 0/1 load as true") {
  TempDir dir("st-bool");
  const std::string header = R"({"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  const std::string path = dir.file("b.safetensors");
  write_bytes(path, le64(header.size()) + header + std::string("\x00\x01\x07", 3));
  const at::Tensor b = SafetensorsFile(path).load("b");
  CHECK((b.scalar_type() == torch::kBool));
  CHECK(torch::equal(b, torch::tensor({false, true, true})));
}

}  // TEST_SUITE
