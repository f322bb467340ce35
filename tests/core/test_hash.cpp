// SHA-256 against the FIPS 180-4 / NIST example vectors, and chunking through update() at every
// boundary of the 64-byte block and the 56-byte padding limit (expected digests from Python's hashlib).
#include <doctest/doctest.h>

#include <string>

#include "core/hash.h"

namespace {

std::string chunked(const std::string& data, size_t chunk) {
  lth::Sha256 h;
  for (size_t i = 0; i < data.size(); i += chunk) h.update(data.data() + i, std::min(chunk, data.size() - i));
  return h.hex_digest();
}

}  // namespace

TEST_SUITE("core") {
  TEST_CASE("sha256: FIPS 180-4 test vectors") {
    CHECK(lth::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(lth::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // The 448-bit (56-byte) message: the length no longer fits in the first padded block.
    CHECK(lth::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // The 896-bit message.
    CHECK(lth::sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
                          "lmnopqrsmnopqrstnopqrstu") ==
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  }

  TEST_CASE("sha256: one million 'a' fed through update() in chunks") {
    const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    const std::string thousand(1000, 'a');
    lth::Sha256 h;
    for (int i = 0; i < 1000; ++i) h.update(thousand);
    CHECK(h.hex_digest() == expected);
    // Odd chunk sizes that straddle block boundaries in every way.
    const std::string million(1000000, 'a');
    CHECK(chunked(million, 7) == expected);
    CHECK(chunked(million, 63) == expected);
    CHECK(chunked(million, 65) == expected);
    CHECK(chunked(million, million.size()) == expected);
  }

  TEST_CASE("sha256: padding boundaries (55, 56, 63, 64, 119 bytes) and binary data") {
    CHECK(lth::sha256_hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK(lth::sha256_hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK(lth::sha256_hex(std::string(63, 'a')) == "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
    CHECK(lth::sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    CHECK(lth::sha256_hex(std::string(119, 'a')) == "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
    std::string bytes;
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
    const std::string want = "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363";
    CHECK(lth::sha256_hex(bytes) == want);
    for (size_t chunk : {1, 3, 56, 64, 100}) {
      CAPTURE(chunk);
      CHECK(chunked(bytes, chunk) == want);
    }
  }

  TEST_CASE("sha256: digest() and hex_digest() agree") {
    lth::Sha256 a, b;
    a.update("abc");
    b.update("abc");
    const auto d = a.digest();
    const std::string hex = b.hex_digest();
    REQUIRE(hex.size() == 64);
    for (size_t i = 0; i < 32; ++i) CHECK(std::stoi(hex.substr(2 * i, 2), nullptr, 16) == d[i]);
    CHECK(d[0] == 0xba);
    CHECK(d[31] == 0xad);
  }
}
