// Renders the HTML report of a synthetic run in headless Chromium: the screenshot must not be blank and
// the DOM Chromium built must hold every section id and plot. Fails (does not skip) without Chromium.
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <doctest/doctest.h>
#include <zlib.h>

#include "core/error.h"
#include "core/file.h"
#include "tests/report/fixture.h"
#include "tests/testing.h"

using lth::testing::quote;
using lth::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string chromium_path() {
  const char* env = std::getenv("LTH_CHROMIUM");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/chromium";
}

uint32_t be32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) | (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) | static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

struct PixelStats {
  uint32_t width = 0, height = 0;
  size_t distinct = 0;          // distinct RGB(A) values
  double most_common_share = 1; // share of the pixels with the most common value
};

// Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) far enough to count pixel values.
PixelStats png_stats(const std::string& path) {
  const std::string png = lth::read_file(path);
  LTH_CHECK(png.size() > 33 && png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0, lth::IoError, "{}: not a PNG", path);
  PixelStats st;
  int channels = 0;
  std::string idat;
  for (size_t p = 8; p + 12 <= png.size();) {
    const uint32_t len = be32(png, p);
    const std::string type = png.substr(p + 4, 4);
    LTH_CHECK(p + 12 + len <= png.size(), lth::IoError, "{}: truncated chunk {}", path, type);
    if (type == "IHDR") {
      st.width = be32(png, p + 8);
      st.height = be32(png, p + 12);
      const int depth = static_cast<uint8_t>(png[p + 16]), color = static_cast<uint8_t>(png[p + 17]);
      const int interlace = static_cast<uint8_t>(png[p + 20]);
      LTH_CHECK(depth == 8 && (color == 2 || color == 6) && interlace == 0, lth::IoError,
                "{}: unsupported PNG (depth {}, colour type {}, interlace {})", path, depth, color, interlace);
      channels = color == 6 ? 4 : 3;
    } else if (type == "IDAT") {
      idat += png.substr(p + 8, len);
    }
    p += 12 + len;
  }
  LTH_CHECK(channels > 0 && !idat.empty(), lth::IoError, "{}: no IHDR/IDAT", path);
  const size_t stride = static_cast<size_t>(st.width) * static_cast<size_t>(channels);
  std::vector<uint8_t> raw((stride + 1) * st.height);
  uLongf raw_len = raw.size();
  LTH_CHECK(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) == Z_OK &&
                raw_len == raw.size(),
            lth::IoError, "{}: IDAT does not inflate to {} bytes", path, raw.size());
  // Undo the per-row filters (PNG spec 9.2).
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  std::map<uint32_t, size_t> counts;
  for (uint32_t y = 0; y < st.height; ++y) {
    const uint8_t* row = raw.data() + y * (stride + 1);
    const int filter = row[0];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<size_t>(channels) ? cur[i - channels] : 0, b = prev[i],
                c = i >= static_cast<size_t>(channels) ? prev[i - channels] : 0;
      int pred = 0;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int pp = a + b - c, pa = std::abs(pp - a), pb = std::abs(pp - b), pc = std::abs(pp - c);
          pred = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
          break;
        }
        default: LTH_FAIL(lth::IoError, "{}: bad filter {} in row {}", path, filter, y);
      }
      cur[i] = static_cast<uint8_t>(row[1 + i] + pred);
    }
    for (uint32_t x = 0; x < st.width; ++x) {
      uint32_t v = 0;
      for (int k = 0; k < channels; ++k) v = (v << 8) | cur[x * channels + static_cast<uint32_t>(k)];
      counts[v]++;
    }
    std::swap(prev, cur);
  }
  size_t top = 0;
  for (const auto& [v, n] : counts) top = std::max(top, n);
  st.distinct = counts.size();
  st.most_common_share = static_cast<double>(top) / (static_cast<double>(st.width) * st.height);
  return st;
}

int run_shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

TEST_SUITE("report-browser") {

TEST_CASE("the HTML report renders in headless Chromium") {
  const std::string chromium = chromium_path();
  if (!fs::exists(chromium)) {
    FAIL("Chromium not found at " << chromium << ": run scripts/install-deps (it installs the chromium package) "
                                  "or set LTH_CHROMIUM to a Chromium binary");
  }
  TempDir tmp("report-browser");
  const std::vector<std::string> inputs = lth::report::testing::write_demo_fixture(tmp.file("runs"));
  std::string args = "report";
  for (const auto& in : inputs) args += " " + quote(in);
  const std::string html = tmp.file("report.html");
  const auto r = lth::testing::run_lth(args + " --format html --out " + quote(html));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // A persistent copy beside the test binary, to look at.
  fs::copy_file(html, "browser-report.html", fs::copy_options::overwrite_existing);

  const std::string shot = (fs::current_path() / "browser-report.png").string();
  fs::remove(shot);
  const std::string flags = "--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
                            "--disable-component-update --disable-sync --hide-scrollbars";
  const std::string url = "file://" + fs::absolute(html).string();
  const std::string shot_cmd = "timeout 120 " + quote(chromium) + " " + flags + " --user-data-dir=" + quote(tmp.file("profile-shot")) +
                               " --screenshot=" + quote(shot) + " --window-size=1200,2400 " + quote(url) + " >" +
                               quote(tmp.file("shot.log")) + " 2>&1";
  CHECK_MESSAGE(run_shell(shot_cmd) == 0, lth::read_file(tmp.file("shot.log")));
  REQUIRE_MESSAGE(fs::exists(shot), "no screenshot written; chromium said:\n" << lth::read_file(tmp.file("shot.log")));
  const PixelStats st = png_stats(shot);
  CHECK(st.width == 1200);
  CHECK(st.height == 2400);
  INFO("distinct colours " << st.distinct << ", most common colour covers " << st.most_common_share);
  CHECK(st.distinct >= 64);               // text antialiasing, heatmap scale, plot colours
  CHECK(st.most_common_share < 0.95);     // not a blank page

  const std::string dom = tmp.file("dom.html");
  const std::string dom_cmd = "timeout 120 " + quote(chromium) + " " + flags + " --user-data-dir=" + quote(tmp.file("profile-dom")) +
                              " --dump-dom " + quote(url) + " >" + quote(dom) + " 2>" + quote(tmp.file("dom.log"));
  CHECK_MESSAGE(run_shell(dom_cmd) == 0, lth::read_file(tmp.file("dom.log")));
  const std::string text = lth::read_file(dom);
  for (const char* id : {"summary", "curves", "heatmap", "overlap", "similarity", "transfer", "runs", "warnings", "curve-g0",
                         "curve-g1", "heatmap-g0-l0", "heatmap-g0-l5", "heatmap-g1-l5", "similarity-0", "transfer-heatmap",
                         "transfer-table", "summary-g0", "summary-g1"}) {
    CHECK_MESSAGE(text.find(std::string("id=\"") + id + "\"") != std::string::npos, "missing id " << id);
  }
  size_t svgs = 0;
  for (size_t p = text.find("<svg"); p != std::string::npos; p = text.find("<svg", p + 1)) ++svgs;
  // 2 curves + 2 x 6 heatmaps + 5 similarity matrices + 1 transfer heatmap.
  CHECK(svgs >= 2 + 12 + 1 + 1);
}

}  // TEST_SUITE
