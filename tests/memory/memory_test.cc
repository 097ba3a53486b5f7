// Memory limits, spilling and retries on the local thread pool: results larger than the limit come out
// bit-identical to an unconstrained run, peak RSS stays under limit + a fixed overhead, spill files go away.
#include <dirent.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <string>

#include "../trace/trace_check.h"
#include "tessera/arrays/array.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/runtime.h"
#include "tessera/runtime/trace.h"

extern char** environ;

namespace tessera {
namespace {

using ::testing::HasSubstr;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kLimit = 64 * kMiB;
// Documented in docs/memory.md: what a process needs besides the results it holds (code, libraries, thread
// stacks, the allocator's slack, the inputs and outputs of the tasks running right now).
constexpr std::uint64_t kFixedOverhead = 64 * kMiB;

// 256 MiB of float64 in 2 MiB chunks (16 x 8), made by tasks (not a fused generator), so that whatever reads
// a chunk twice has to hold it: the anomaly reads every chunk once for the mean and once for itself.
Array input(std::int64_t rows, std::int64_t cols, std::int64_t chunk_rows, std::int64_t chunk_cols) {
  const ChunkGrid grid = ChunkGrid::regular({rows, cols}, {chunk_rows, chunk_cols});
  return from_function(
      grid, DType::kFloat64,
      [](const ChunkGrid& g, std::span<const std::int64_t> idx) {
        const Shape shape = g.chunk_shape(idx);
        Chunk c(DType::kFloat64, shape);
        auto v = c.data<double>();
        std::uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(idx[0] * 1000 + idx[1] + 1);
        for (double& e : v) {
          x ^= x >> 12;
          x ^= x << 25;
          x ^= x >> 27;
          e = static_cast<double>((x * 2685821657736338717ull) >> 11) * 0x1.0p-53 - 0.5;
        }
        return c;
      },
      "input");
}

Array big_input() {
  return input(4096, 8192, 256, 1024);
}

std::vector<Array> workload() {
  Array x = big_input();
  Array anom = x - x.mean(0);
  // The anomaly is reduced per row so that the outputs stay small; every anomaly element enters the sums.
  return {x.sum(), x.sum(0), (anom * anom).sum(1), anom.sum(0)};
}

bool bit_equal(const Chunk& a, const Chunk& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

std::string temp_dir(const std::string& name) {
  std::string d = (std::filesystem::temp_directory_path() /
                   ("tessera-memtest-" + name + "-" + std::to_string(::getpid())))
                      .string();
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

std::size_t entries(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

RuntimeOptions limited(const std::string& spill_dir, int threads = 2) {
  RuntimeOptions o;
  o.executor = ExecutorKind::kThreads;
  o.threads = threads;
  o.memory.limit = kLimit;
  o.memory.spill_dir = spill_dir;
  return o;
}

// Runs `arrays` through kLimit on `kind`: the same bits as `expected`, most of the input spilled and read
// back, no more held than the limit, no spill file left.
void check_limited_run(ExecutorKind kind, const std::vector<Array>& arrays,
                       const std::vector<Chunk>& expected, const std::string& name) {
  const std::string dir = temp_dir(name);
  RuntimeOptions o = limited(dir);
  o.executor = kind;
  Runtime rt(o);
  const std::vector<Chunk> got = compute(rt, arrays);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(bit_equal(got[i], expected[i])) << "array " << i;
  const RunStats& s = rt.last_stats();
  // The anomaly needs every input chunk twice: most of the 256 MiB went to disk and came back.
  EXPECT_GT(s.bytes_spilled, 128 * kMiB);
  EXPECT_GE(s.bytes_unspilled, s.bytes_spilled / 2);
  EXPECT_LE(s.peak_held_bytes, kLimit);
  EXPECT_EQ(entries(dir), 0u) << "spill files left in " << dir;
  std::filesystem::remove_all(dir);
}

TEST(MemoryLimit, LargerThanMemoryReductionAndAnomalyAreBitIdentical) {
  const std::vector<Array> arrays = workload();
  Runtime free_rt(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = 2});
  const std::vector<Chunk> expected = compute(free_rt, arrays);
  EXPECT_EQ(free_rt.last_stats().bytes_spilled, 0u);
  check_limited_run(ExecutorKind::kThreads, arrays, expected, "identical");
  // The one-thread executor (for debugging) keeps the same limit.
  check_limited_run(ExecutorKind::kSync, arrays, expected, "sync");
}

void spill_recorded_run(ExecutorKind kind);

TEST(MemoryLimit, TheRecordingCountsWhatWasSpilledAsTheExecutorDid) {
  // 32 MiB in 1 MiB chunks through an 8 MiB limit, recorded: the spill files written and read back are
  // events of the trace, their totals are the executor's own counters, and the summary and report show them.
  for (ExecutorKind kind : {ExecutorKind::kThreads, ExecutorKind::kSync}) {
    SCOPED_TRACE(kind == ExecutorKind::kSync ? "sync" : "threads");
    spill_recorded_run(kind);
  }
}

void spill_recorded_run(ExecutorKind kind) {
  const std::string dir = temp_dir("recorded");
  RuntimeOptions o = limited(dir);
  o.executor = kind;
  o.memory.limit = 8 * kMiB;
  o.record.enabled = true;
  Runtime rt(o);
  Array x = input(1024, 4096, 128, 1024);
  Array anom = x - x.mean(0);
  compute(rt, std::vector<Array>{(anom * anom).sum(1), anom.sum(0)});
  const RunStats& s = rt.last_stats();
  ASSERT_GT(s.bytes_spilled, 0u);
  ASSERT_GT(s.bytes_unspilled, 0u);
  const std::shared_ptr<const RunTrace> t = rt.last_trace();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bytes_spilled, s.bytes_spilled);
  EXPECT_EQ(t->bytes_unspilled, s.bytes_unspilled);
  ASSERT_FALSE(t->spills_sampled);
  std::uint64_t written = 0;
  std::uint64_t read = 0;
  for (const SpillEvent& e : t->spills) {
    (e.read ? read : written) += e.bytes;
    EXPECT_EQ(e.rank, 0);
    EXPECT_LE(e.start, e.end);
    EXPECT_GE(e.start, 0);
    EXPECT_LE(e.end, t->seconds + 1e-3);
  }
  EXPECT_EQ(written, s.bytes_spilled);
  EXPECT_EQ(read, s.bytes_unspilled);
  EXPECT_GT(t->spill_seconds, 0);
  EXPECT_GT(t->unspill_seconds, 0);
  EXPECT_THAT(summarize(*t),
              HasSubstr("spilled: " + format_bytes(static_cast<double>(s.bytes_spilled)) + " written in "));
  std::ostringstream html;
  write_html_report(*t, html);
  EXPECT_THAT(html.str(), HasSubstr("\"spill\":{\"bytes\":" + std::to_string(s.bytes_spilled) +
                                    ",\"read_bytes\":" + std::to_string(s.bytes_unspilled)));
  EXPECT_THAT(html.str(), HasSubstr("[\"spill files\",0]"));  // its row in the task stream
  // trace.json: a slice per spill file on the process's "spill files" track(s), named by its result's key,
  // the bytes adding up to the executor's counters (check_chrome_trace, given the run's trace).
  std::ostringstream json;
  write_chrome_trace(*t, json);
  const nlohmann::json doc = test::check_chrome_trace(json.str(), t->tasks_total, t.get());
  std::uint64_t traced[2] = {0, 0};  // written, read back
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X" && e["cat"] == "spill")
      traced[e["args"]["direction"] == "read back" ? 1 : 0] += e["args"]["bytes"].get<std::uint64_t>();
  }
  EXPECT_EQ(traced[0], s.bytes_spilled);
  EXPECT_EQ(traced[1], s.bytes_unspilled);
  std::filesystem::remove_all(dir);
}

TEST(MemoryLimit, WithoutALimitNothingIsSpilledOrRecordedAsSpilled) {
  Runtime rt(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = 2, .record = {.enabled = true}});
  Array x = input(256, 1024, 64, 256);
  compute(rt, std::vector<Array>{(x - x.mean(0)).sum()});
  const std::shared_ptr<const RunTrace> t = rt.last_trace();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bytes_spilled, 0u);
  EXPECT_TRUE(t->spills.empty());
  EXPECT_THAT(summarize(*t), ::testing::Not(HasSubstr("spilled")));
}

long vm_hwm_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Run in a fresh process by PeakRssStaysUnderLimitPlusOverhead: the constrained run alone, then its VmHWM.
TEST(MemoryLimit, PeakRssChild) {
  const char* out = std::getenv("TESSERA_MEMTEST_HWM_FILE");
  if (out == nullptr) GTEST_SKIP() << "run by PeakRssStaysUnderLimitPlusOverhead";
  const std::string dir = temp_dir("rss");
  {
    Runtime rt(limited(dir));
    const std::vector<Chunk> got = compute(rt, workload());
    ASSERT_EQ(got.size(), 4u);
  }
  std::filesystem::remove_all(dir);
  std::ofstream(out) << vm_hwm_kib() << "\n";
}

TEST(MemoryLimit, PeakRssStaysUnderLimitPlusOverhead) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "SKIPPED: a sanitizer's shadow memory makes RSS meaningless here; the main build checks it";
#endif
  const std::string hwm_file = temp_dir("hwm") + "/hwm";
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=MemoryLimit.PeakRssChild";
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back("TESSERA_MEMTEST_HWM_FILE=" + hwm_file);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv{const_cast<char*>(exe.c_str()), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  long hwm_kib = -1;
  std::ifstream(hwm_file) >> hwm_kib;
  std::filesystem::remove_all(std::filesystem::path(hwm_file).parent_path());
  ASSERT_GT(hwm_kib, 0);
  const double hwm_mib = static_cast<double>(hwm_kib) / 1024.0;
  std::printf("peak RSS with a %llu MiB limit over 256 MiB of input: %.1f MiB\n",
              static_cast<unsigned long long>(kLimit / kMiB), hwm_mib);
  EXPECT_LT(static_cast<std::uint64_t>(hwm_kib) * 1024, kLimit + kFixedOverhead);
}

TEST(MemoryLimit, SpillFilesAreRemovedAfterAFailure) {
  const std::string dir = temp_dir("failure");
  std::atomic<std::size_t> seen{0};
  Array x = big_input();
  Array anom = x - x.mean(0);
  // The row sums run row block after row block; the first needs the whole mean, hence every input chunk, most
  // of which go to disk. Half-way through, half of them are still there (each file is deleted once its chunk
  // has been read for the last time), so the failing block finds spill files.
  Array boom = map_blocks(
      [&](std::span<const Chunk* const> in, std::span<const std::int64_t> idx) -> Chunk {
        if (idx[0] == 8 && idx[1] == 0) {
          std::size_t files = 0;
          for (const auto& sub : std::filesystem::directory_iterator(dir))
            files += entries(sub.path().string());
          seen.store(files);
          throw Error(ErrorCode::kIo, "disk gone");
        }
        return *in[0];
      },
      std::span<const Array>(&anom, 1), DType::kFloat64);
  Runtime rt(limited(dir));
  try {
    compute(rt, boom.sum(1));
    FAIL() << "expected the run to fail";
  } catch (const TaskError& e) {
    EXPECT_THAT(e.what(), HasSubstr("disk gone"));
  }
  EXPECT_GT(seen.load(), 0u) << "no spill file existed when the task failed";
  EXPECT_EQ(entries(dir), 0u) << "spill files left in " << dir;
  std::filesystem::remove_all(dir);
}

TEST(MemoryLimit, UnwritableSpillDirectoryIsAClearError) {
  Runtime rt(limited("/proc/no-such-dir"));
  try {
    compute(rt, workload()[2]);  // the anomaly must hold more than the limit: it has to spill
    FAIL() << "expected the run to fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_THAT(e.what(), HasSubstr("/proc/no-such-dir"));
  }
}

TEST(MemoryLimit, WithoutSpillingRootsAreWithheldAndTheRunCompletes) {
  const std::vector<Array> arrays = workload();
  RuntimeOptions o = limited("", 2);
  o.memory.spill = false;
  Runtime rt(o);
  const std::vector<Chunk> got = compute(rt, arrays);
  Runtime free_rt(RuntimeOptions{.executor = ExecutorKind::kSync});
  const std::vector<Chunk> expected = compute(free_rt, arrays);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(bit_equal(got[i], expected[i])) << "array " << i;
  EXPECT_GT(rt.last_stats().roots_withheld, 0u);
  EXPECT_EQ(rt.last_stats().bytes_spilled, 0u);
}

TEST(MemoryLimit, EnvironmentSetsTheLimit) {
  ::setenv("TESSERA_MEMORY_LIMIT", "1.5GiB", 1);
  ::setenv("TESSERA_SPILL_DIR", "/scratch/x", 1);
  RuntimeOptions o = RuntimeOptions::from_environment();
  EXPECT_EQ(o.memory.limit, 1536 * kMiB);
  EXPECT_EQ(o.memory.spill_dir, "/scratch/x");
  ::setenv("TESSERA_MEMORY_LIMIT", "lots", 1);
  try {
    RuntimeOptions::from_environment();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("TESSERA_MEMORY_LIMIT \"lots\" is not a size"));
  }
  ::unsetenv("TESSERA_MEMORY_LIMIT");
  ::unsetenv("TESSERA_SPILL_DIR");
}

// A transient failure (two failed reads) is retried after a backoff and gives the very bytes of a clean run;
// a permanent one fails with the number of attempts.
TEST(Retries, TransientFailureIsRetriedPermanentOneReportsAttempts) {
  const ChunkGrid grid = ChunkGrid::regular({64, 64}, {16, 16});
  auto make = [](std::atomic<int>* failures) {
    return [failures](const ChunkGrid& g, std::span<const std::int64_t> idx) -> Chunk {
      if (idx[0] == 2 && idx[1] == 1 && failures->load() > 0) {
        failures->fetch_sub(1);
        throw Error(ErrorCode::kIo, "transient read failure");
      }
      Chunk c(DType::kFloat64, g.chunk_shape(idx));
      double k = static_cast<double>(idx[0] * 10 + idx[1]);
      for (double& e : c.data<double>()) e = (k += 0.37);
      return c;
    };
  };
  std::atomic<int> none{0};
  Runtime rt(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = 2});
  const Chunk clean = compute(rt, from_function(grid, DType::kFloat64, make(&none), "read"));

  // Arrays' from_function tasks are not retryable by default: retries come from the graph's options, so
  // this test goes through the runtime's Graph directly.
  std::atomic<int> two{2};
  auto reader = make(&two);
  Graph g;
  const KernelId k = g.kernel([&](const TaskContext& ctx) -> Value {
    const std::int64_t idx[] = {ctx.index()[0], ctx.index()[1]};
    return Value::of(reader(grid, idx));
  });
  const NameId name = g.name("read");
  std::vector<TaskId> outs;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j)
      outs.push_back(g.add(name, {i, j}, k, {}, TaskOptions{.retries = 2, .retry_backoff_ms = 20}));
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Value> got = rt.run(g, outs);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(waited, 0.055);  // 20 ms, then 40 ms
  EXPECT_EQ(rt.last_stats().attempts, 18u);
  // The retried chunk equals the same chunk of the clean run.
  const Chunk& retried = got[2 * 4 + 1].get<Chunk>();
  const double* a = retried.data<double>().data();
  const double* b = clean.data<double>().data() + 2 * 16 * 64 + 16;
  for (int r = 0; r < 16; ++r) EXPECT_EQ(std::memcmp(a + r * 16, b + r * 64, 16 * sizeof(double)), 0);

  std::atomic<int> many{1000};
  auto hopeless = make(&many);
  Graph h;
  const KernelId hk = h.kernel([&](const TaskContext& ctx) -> Value {
    const std::int64_t idx[] = {ctx.index()[0], ctx.index()[1]};
    return Value::of(hopeless(grid, idx));
  });
  const TaskId bad[] = {
      h.add(h.name("read"), {2, 1}, hk, {}, TaskOptions{.retries = 2, .retry_backoff_ms = 1})};
  try {
    rt.run(h, bad);
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_EQ(e.attempts(), 3);
    EXPECT_THAT(e.what(), HasSubstr("task (\"read\", 2, 1) failed after 3 attempts: transient read failure"));
  }
}

TEST(Retries, BadAllocNamesTheTask) {
  Array x = from_function(
      ChunkGrid::regular({8, 8}, {4, 4}), DType::kFloat64,
      [](const ChunkGrid&, std::span<const std::int64_t> idx) -> Chunk {
        if (idx[0] == 1 && idx[1] == 0) throw std::bad_alloc();
        return Chunk::zeros(DType::kFloat64, {4, 4});
      },
      "alloc");
  Runtime rt(limited(""));
  try {
    compute(rt, x.sum());
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_THAT(e.what(), HasSubstr("(\"alloc"));
    EXPECT_THAT(e.what(), HasSubstr(", 1, 0) failed: out of memory"));
  }
}

}  // namespace
}  // namespace tessera
