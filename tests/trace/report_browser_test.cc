// The report in a real browser (headless Chromium, label `browser`): the page runs without console errors,
// draws its charts (the script's verdict in the DOM), a screenshot is not blank, and the task-kind table
// shows the run's own counts. Skipped, loudly, where Chromium is not installed (bootstrap installs it).
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/runtime/executor.h"
#include "tessera/runtime/trace.h"
#include "trace_check.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

std::string find_chromium() {
  if (const char* c = std::getenv("TESSERA_CHROMIUM"); c != nullptr && *c != '\0') return c;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      const fs::path p = fs::path(dir) / name;
      if (fs::exists(p)) return p.string();
    }
  }
  return {};
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class ReportInBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    if (chromium_.empty()) {
      std::fprintf(stderr,
                   "\n*** SKIPPED: chromium is not installed, so the report was not opened in a browser. "
                   "Install it (apt-get install chromium; ./bootstrap does) to run this test. ***\n\n");
      GTEST_SKIP()
          << "SKIPPED: chromium not found on PATH (set TESSERA_CHROMIUM or apt-get install chromium)";
    }
    dir_ = fs::temp_directory_path() / ("tessera-report-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs Chromium headless on the page with `mode` (--dump-dom or --screenshot=...); returns its exit status
  // and fills stdout/stderr.
  int browse(const fs::path& page, const std::string& mode, std::string& out, std::string& err,
             double& seconds) {
    const fs::path profile = dir_ / ("profile-" + std::to_string(runs_++));
    fs::create_directories(profile);
    const fs::path out_file = dir_ / "stdout.txt";
    const fs::path err_file = dir_ / "stderr.txt";
    const std::string cmd =
        "timeout 120 '" + chromium_ +
        "' --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
        "--disable-component-update --disable-sync --user-data-dir='" +
        profile.string() + "' --enable-logging=stderr --v=0 --window-size=1400,2400 " + mode + " 'file://" +
        page.string() + "' > '" + out_file.string() + "' 2> '" + err_file.string() + "'";
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = std::system(cmd.c_str());
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out = slurp(out_file);
    err = slurp(err_file);
    return rc;
  }

  static std::vector<std::string> console_errors(const std::string& err) {
    std::vector<std::string> bad;
    std::stringstream lines(err);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find("CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) {
        bad.push_back(line);
      }
    }
    return bad;
  }

  std::string chromium_;
  fs::path dir_;
  int runs_ = 0;
};

// Share of the screenshot's filtered scanline bytes that are neither 0 nor 255: near zero for a blank page.
double png_detail(const std::string& png) {
  if (png.size() < 8 || png.compare(1, 3, "PNG") != 0) return 0;
  std::string idat;
  for (std::size_t at = 8; at + 8 <= png.size();) {
    const auto* p = reinterpret_cast<const unsigned char*>(png.data() + at);
    const std::size_t len =
        (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
    const std::string type = png.substr(at + 4, 4);
    if (type == "IDAT") idat += png.substr(at + 8, len);
    at += 12 + len;
  }
  std::vector<unsigned char> raw(64u << 20);
  uLongf n = raw.size();
  if (uncompress(raw.data(), &n, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK) return 0;
  std::size_t busy = 0;
  for (uLongf i = 0; i < n; ++i) busy += raw[i] != 0 && raw[i] != 255;
  return n ? static_cast<double>(busy) / static_cast<double>(n) : 0;
}

TEST_F(ReportInBrowser, RendersWithoutErrorsAndShowsTheRunsCounts) {
  // A memory limit of two reads' results, so that the run spills and the report has spill files to show.
  auto exec = make_thread_pool_executor(
      {.threads = 2, .record = {.enabled = true}, .memory = {.limit = 16000, .spill_dir = dir_.string()}});
  Graph g;
  auto outputs = test::build_trace_graph(g, 64);
  Plan plan = Plan::build(g, outputs);
  RunResult r = exec->run(g, plan);
  ASSERT_TRUE(r.trace);
  const fs::path page = dir_ / "report.html";
  write_html_report(*r.trace, page.string());

  std::string dom, err;
  double seconds = 0;
  ASSERT_EQ(browse(page, "--dump-dom", dom, err, seconds), 0) << err;
  EXPECT_TRUE(console_errors(err).empty()) << "console output:\n" << err;
  std::smatch m;
  // What the script drew, in attributes of an element the reader does not see (empty and hidden).
  ASSERT_TRUE(std::regex_search(
      dom, m,
      std::regex("id=\"verdict\" data-status=\"([a-z]+)\" data-drawn=\"([^\"]*)\" hidden=\"\"></div>")))
      << dom.substr(0, 2000);
  EXPECT_EQ(m[1].str(), "ok") << m[2].str();
  std::printf("verdict: %s (%.1f s in Chromium)\n", m[2].str().c_str(), seconds);
  // The graph's two progress groups (reads, means) were drawn as lines of the per-output chart, and the
  // spill files as slices of their row.
  const std::string verdict = " " + m[2].str();
  EXPECT_NE(verdict.find(" groups=2"), std::string::npos) << verdict;
  ASSERT_GT(r.stats.bytes_spilled, 0u);
  ASSERT_TRUE(std::regex_search(verdict, m, std::regex(" spills=([0-9]+)"))) << verdict;
  EXPECT_EQ(std::stoull(m[1].str()), r.trace->spills.size());
  EXPECT_GT(r.trace->spills.size(), 0u);
  EXPECT_NE(dom.find("spill files"), std::string::npos);

  // The kinds table, row by row, against the run's own per-kind counts.
  std::map<std::string, std::uint64_t> shown;
  const std::regex row("<tr data-kind=\"([^\"]+)\" data-count=\"([0-9]+)\"");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), row); it != std::sregex_iterator(); ++it) {
    shown[(*it)[1].str()] = std::stoull((*it)[2].str());
  }
  ASSERT_EQ(shown.size(), r.trace->kind_summary.size());
  for (const KindSummary& k : r.trace->kind_summary) EXPECT_EQ(shown[k.kind], k.count) << k.kind;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("id=\"kinds-total\" data-count=\"([0-9]+)\"")));
  EXPECT_EQ(std::stoull(m[1].str()), r.stats.plan_tasks);

  const fs::path shot = dir_ / "shot.png";
  std::string out;
  ASSERT_EQ(browse(page, "--screenshot='" + shot.string() + "'", out, err, seconds), 0) << err;
  EXPECT_TRUE(console_errors(err).empty()) << "console output:\n" << err;
  ASSERT_TRUE(fs::exists(shot)) << err;
  const std::string png = slurp(shot);
  const double detail = png_detail(png);
  std::printf("screenshot: %zu bytes, %.2f%% detail\n", png.size(), 100 * detail);
  EXPECT_GT(detail, 0.005) << "the screenshot looks blank";
}

TEST_F(ReportInBrowser, AMillionTaskReportOpensInAFewSeconds) {
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  Graph g;
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  const NameId leaf = g.name("leaf-00ff");
  std::vector<TaskId> leaves;
  for (int i = 0; i < 1000000; ++i) leaves.push_back(g.add(leaf, {i}, noop, {}));
  Plan plan = Plan::build(g, leaves);
  RunResult r = exec->run(g, plan);
  ASSERT_TRUE(r.trace);
  const fs::path page = dir_ / "big.html";
  write_html_report(*r.trace, page.string());
  const auto size = fs::file_size(page);
  EXPECT_LT(size, 20u << 20);
  std::string dom, err;
  double seconds = 0;
  ASSERT_EQ(browse(page, "--dump-dom", dom, err, seconds), 0) << err;
  std::printf("1M-task report: %.1f MB, %.1f s from Chromium's start to the DOM dump\n",
              static_cast<double>(size) / 1e6, seconds);
  EXPECT_TRUE(console_errors(err).empty()) << err;
  EXPECT_NE(dom.find("data-status=\"ok\""), std::string::npos);
  EXPECT_LT(seconds, 30.0);  // includes starting Chromium on a loaded machine; typically a few seconds
}

}  // namespace
}  // namespace tessera
