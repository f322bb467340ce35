// File helpers: errors name the file; atomic writes leave either the old or the new content and no
// temporary file behind.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tests/testing.h"

using lth::testing::error_of;

namespace fs = std::filesystem;
namespace lt = lth::testing;

namespace {


}  // namespace

TEST_SUITE("core") {
  TEST_CASE("read_file and read_json_file name the file") {
    lt::TempDir tmp("core-file");
    const std::string missing = tmp.file("missing.json");
    CHECK(error_of<lth::IoError>([&] { lth::read_file(missing); }).find(missing) != std::string::npos);
    CHECK(error_of<lth::IoError>([&] { lth::read_file(tmp.path()); }).find(tmp.path()) != std::string::npos);
    std::ofstream(tmp.file("bad.json")) << "{\"a\": 1,";
    const std::string msg = error_of<lth::IoError>([&] { lth::read_json_file(tmp.file("bad.json")); });
    CHECK_MESSAGE(msg.find(tmp.file("bad.json")) != std::string::npos, msg);
    std::ofstream(tmp.file("good.json")) << "{\"a\": [1, 2]}";
    CHECK(lth::read_json_file(tmp.file("good.json"))["a"][1] == 2);
  }

  TEST_CASE("write_file_atomic replaces the content and leaves no temporary file") {
    lt::TempDir tmp("core-atomic");
    const std::string path = tmp.file("out.txt");
    lth::write_file_atomic(path, "first");
    lth::write_file_atomic(path, std::string("sec\0nd", 6));
    CHECK(lth::read_file(path) == std::string("sec\0nd", 6));
    CHECK(lt::temp_files_in(tmp.path()) == 0);
  }

  TEST_CASE("write_stream_atomic: a throwing writer leaves the old file and no temporary file") {
    lt::TempDir tmp("core-atomic-throw");
    const std::string path = tmp.file("out.txt");
    lth::write_file_atomic(path, "old");
    CHECK_THROWS_AS(lth::write_stream_atomic(path,
                                             [](std::ostream& out) {
                                               out << "half of the new";
                                               throw std::runtime_error("disk full");
                                             }),
                    std::runtime_error);
    CHECK(lth::read_file(path) == "old");
    CHECK(lt::temp_files_in(tmp.path()) == 0);
    // Into a directory that does not exist: IoError, nothing created.
    const std::string nowhere = tmp.file("no/such/dir/out.txt");
    CHECK(error_of<lth::IoError>([&] { lth::write_file_atomic(nowhere, "x"); }).find(nowhere) != std::string::npos);
    CHECK_FALSE(lth::path_exists(nowhere));
  }

  TEST_CASE("temp_path_for is beside the path and unique") {
    const std::string a = lth::temp_path_for("/some/dir/file.bin");
    const std::string b = lth::temp_path_for("/some/dir/file.bin");
    CHECK(a != b);
    CHECK(a.rfind("/some/dir/file.bin.tmp.", 0) == 0);
  }

  TEST_CASE("make_dirs creates parents; fails naming the path under a file") {
    lt::TempDir tmp("core-dirs");
    lth::make_dirs(tmp.file("a/b/c"));
    CHECK(fs::is_directory(tmp.file("a/b/c")));
    lth::make_dirs(tmp.file("a/b/c"));  // idempotent
    std::ofstream(tmp.file("plain")) << "x";
    const std::string under = tmp.file("plain/sub");
    CHECK(error_of<lth::IoError>([&] { lth::make_dirs(under); }).find(under) != std::string::npos);
  }
}
