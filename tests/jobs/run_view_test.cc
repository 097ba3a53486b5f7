// What `tessera run` shows while a run goes on: per-output progress in the bar and in batch-log lines, and
// the progress groups io::store gives each output variable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "io/temp_dir.h"
#include "tessera/arrays/array.h"
#include "tessera/io/io.h"
#include "tessera/jobs/run_view.h"
#include "tessera/runtime/runtime.h"

namespace tessera::jobs {
namespace {

Progress halfway() {
  Progress p;
  p.tasks_done = 52;
  p.tasks_total = 140;
  p.elapsed = 2;
  p.groups = {{"t_anom", 40, 120}, {"clim", 12, 12}};
  return p;
}

TEST(ProgressDisplay, TerminalBarShowsEachOutput) {
  std::ostringstream err;
  ProgressDisplay display(err, /*tty=*/true);
  display.options().callback(halfway());
  EXPECT_THAT(err.str(), ::testing::HasSubstr("52/140 tasks"));
  EXPECT_THAT(err.str(), ::testing::HasSubstr("t_anom 40/120 \u00b7 clim 12/12"));
  EXPECT_THAT(err.str(), ::testing::HasSubstr("tasks/s"));
}

TEST(ProgressDisplay, TerminalBarShowsAFewOutputsThenHowManyMore) {
  std::ostringstream err;
  ProgressDisplay display(err, /*tty=*/true);
  Progress p = halfway();
  for (int i = 0; i < 4; ++i) p.groups.push_back({"v" + std::to_string(i), 0, 3});
  display.options().callback(p);
  EXPECT_THAT(err.str(), ::testing::HasSubstr(
                             "t_anom 40/120 \u00b7 clim 12/12 \u00b7 v0 0/3 \u00b7 v1 0/3 \u00b7 +2 more"));
  EXPECT_THAT(err.str(), ::testing::Not(::testing::HasSubstr("v2")));
}

TEST(ProgressDisplay, BatchLogLineListsEveryOutput) {
  std::ostringstream err;
  ProgressDisplay display(err, /*tty=*/false, /*line_seconds=*/1);
  display.options().callback(halfway());
  const std::string line = err.str();
  EXPECT_THAT(line, ::testing::StartsWith("tessera: progress 52/140 tasks (37.1%)"));
  EXPECT_THAT(line, ::testing::EndsWith("; outputs t_anom 40/120, clim 12/12\n"));
}

TEST(ProgressDisplay, NoOutputsNoOutputList) {
  std::ostringstream err;
  ProgressDisplay display(err, /*tty=*/false, /*line_seconds=*/1);
  Progress p = halfway();
  p.groups.clear();
  display.options().callback(p);
  EXPECT_THAT(err.str(), ::testing::Not(::testing::HasSubstr("outputs")));
}

TEST(StoreProgress, EachOutputVariableIsAProgressGroupOfItsChunkWrites) {
  testing::TempDir dir("tessera_jobs");
  std::mutex mu;
  std::vector<Progress> calls;
  RuntimeOptions options;
  options.threads = 2;
  options.record.enabled = true;
  options.progress = {[&](const Progress& p) {
                        std::lock_guard lock(mu);
                        calls.push_back(p);
                      },
                      0.001};
  Runtime rt(options);
  Array a = random_normal({40, 30}, {10, 10}, 1, DType::kFloat64);  // 4 x 3 chunks
  io::OutputFile file(dir.file("out.h5"), {.netcdf = false});
  file.add("t_anom", a - a.mean(0), {.dims = {"time", "x"}});
  file.add("clim", a.mean(0), {.dims = {"x"}});  // 3 chunks
  io::store(rt, file);
  ASSERT_FALSE(calls.empty());
  const Progress& last = calls.back();
  ASSERT_TRUE(last.final);
  ASSERT_EQ(last.groups.size(), 2u);
  EXPECT_EQ(last.groups[0].label, "t_anom");
  EXPECT_EQ(last.groups[0].total, 12u);
  EXPECT_EQ(last.groups[0].done, 12u);
  EXPECT_EQ(last.groups[1].label, "clim");
  EXPECT_EQ(last.groups[1].total, 3u);
  EXPECT_EQ(last.groups[1].done, 3u);
  for (const Progress& p : calls) {
    ASSERT_EQ(p.groups.size(), 2u);
    for (const GroupProgress& g : p.groups) EXPECT_LE(g.done, g.total);
  }
  // The recording carries the same groups, sampled with the scheduler's samples.
  const auto trace = rt.last_trace();
  ASSERT_TRUE(trace);
  EXPECT_THAT(trace->group_labels, ::testing::ElementsAre("t_anom", "clim"));
  EXPECT_THAT(trace->group_totals, ::testing::ElementsAre(12u, 3u));
  ASSERT_EQ(trace->group_done.size(), trace->scheduler.size());
  EXPECT_THAT(trace->group_done.back(), ::testing::ElementsAre(12u, 3u));
}

}  // namespace
}  // namespace tessera::jobs
