// Shared harness for the libFuzzer targets: each input is written to a file (the readers under test
// take paths, as the CLI does) and read back. A reader may only return or throw an lth::Error whose
// message is one line of bounded length naming the file; anything else (another exception type,
// a multi-line or overlong message, a sanitizer report) aborts, which libFuzzer records as a crash.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>

#include "core/error.h"

// LibTorch 1.13's zip reader leaks its miniz state (~700 bytes) when PyTorchStreamReader's
// constructor throws on a damaged archive; that is LibTorch's, bounded per failed file, and lth exits
// after the error. Every other leak still fails the run.
extern "C" const char* __lsan_default_suppressions() { return "leak:libtorch_cpu.so\n"; }

namespace lth::fuzz {

// Messages may quote the path plus this many bytes of explanation.
inline constexpr std::size_t kMaxMessageBytes = 300;

[[noreturn]] inline void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "lth fuzz finding: %s: %s\n", what, detail.substr(0, 2000).c_str());
  std::abort();
}

// A per-process scratch file; `name` is its file name (some readers look at it).
inline const std::string& input_path(const char* name) {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string d = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/lth-fuzz-" +
                    std::to_string(::getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) finding("setup", "cannot create " + d);
    return d;
  }();
  static std::string path;
  path = dir + "/" + name;
  return path;
}

inline void write_input(const std::string& path, const uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) finding("setup", "cannot write " + path);
}

// Runs `read`; a clean lth::Error is fine, everything else is a finding.
template <typename Fn>
void expect_clean(const std::string& path, Fn&& read) {
  try {
    read();
  } catch (const lth::Error& e) {
    const std::string message = e.what();
    if (message.find('\n') != std::string::npos) finding("multi-line error message", message);
    if (message.size() > path.size() + kMaxMessageBytes) finding("overlong error message", message);
    if (message.find(path) == std::string::npos) finding("error message does not name the file", message);
  } catch (const std::exception& e) {
    finding("exception other than lth::Error", e.what());
  } catch (...) {
    finding("unknown exception", "");
  }
}

}  // namespace lth::fuzz
