// Slurm environment parsing on recorded SLURM_* fixtures (tests/slurm/fixtures: the first two were dumped by
// jobs on the test Slurm, the rest describe documented layouts and malformed values), derivation and the
// generated sbatch script.
#include "tessera/slurm/slurm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tessera/runtime/error.h"

namespace tessera::slurm {
namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> fixture(const std::string& name) {
  std::ifstream in(std::string(TESSERA_SLURM_FIXTURES) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::map<std::string, std::string> env;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

TEST(SlurmEnvironment, RecordedOvercommittedJob) {
  Environment e = parse_environment(fixture("overcommit_3tasks_rank1.env"));
  EXPECT_TRUE(e.inside);
  EXPECT_EQ(e.job_id, "1");
  EXPECT_EQ(e.ntasks, 3);
  EXPECT_EQ(e.local_id, 1);
  EXPECT_EQ(e.tasks_per_node, std::vector<int>{3});
  EXPECT_EQ(e.scratch, "/tmp");
  Derived d = derive(e);
  EXPECT_EQ(d.threads_per_worker, 1);  // 1 CPU on the node for 3 tasks: at least one thread each
  EXPECT_FALSE(d.memory_per_worker);
  EXPECT_THAT(describe(e, d), HasSubstr("memory per worker: no limit (Slurm gave no memory figure)"));
}

TEST(SlurmEnvironment, RecordedCpusPerTaskAndMemory) {
  Environment e = parse_environment(fixture("cpus_per_task_mem.env"));
  EXPECT_EQ(e.cpus_per_task, 2);
  EXPECT_EQ(e.mem_per_node, std::uint64_t{1000} << 20);
  Derived d = derive(e);
  EXPECT_EQ(d.threads_per_worker, 2);
  EXPECT_EQ(d.memory_per_worker, std::uint64_t{1000} << 20);
  EXPECT_THAT(describe(e, d), HasSubstr("threads per worker 2: SLURM_CPUS_PER_TASK"));
}

TEST(SlurmEnvironment, HeterogeneousNodes) {
  Environment e = parse_environment(fixture("multinode_heterogeneous.env"));
  EXPECT_EQ(e.tasks_per_node, (std::vector<int>{5, 5, 4}));
  EXPECT_EQ(e.scratch, "/local/scratch/4242");
  EXPECT_EQ(e.scratch_source, "SLURM_TMPDIR");
  Derived d = derive(e);
  // Node 2 holds 4 tasks: 64 CPUs and 256000 MB shared by 4.
  EXPECT_EQ(d.threads_per_worker, 16);
  EXPECT_EQ(d.memory_per_worker, (std::uint64_t{256000} << 20) / 4);
  EXPECT_EQ(d.scratch_dir, "/local/scratch/4242");
  EXPECT_THAT(describe(e, d), HasSubstr("Slurm: job 4242, 14 tasks on 3 nodes"));
}

TEST(SlurmEnvironment, MemoryPerCpuAndExplicitChoicesWin) {
  Environment e = parse_environment(fixture("mem_per_cpu.env"));
  Derived d = derive(e);
  EXPECT_EQ(d.threads_per_worker, 8);
  EXPECT_EQ(d.memory_per_worker, (std::uint64_t{4} << 30) * 8);
  Derived x = derive(e, {.threads = 3, .memory_limit = std::uint64_t{1} << 30, .scratch = "/fast"});
  EXPECT_EQ(x.threads_per_worker, 3);
  EXPECT_EQ(x.memory_per_worker, std::uint64_t{1} << 30);
  EXPECT_EQ(x.scratch_dir, "/fast");
  EXPECT_THAT(describe(e, x), HasSubstr("threads per worker 3: chosen explicitly"));
}

TEST(SlurmEnvironment, OutsideAnAllocation) {
  Environment e = parse_environment({{"TMPDIR", "/scratch/me"}, {"SLURM_CPUS_PER_TASK", "4"}});
  EXPECT_FALSE(e.inside);
  EXPECT_FALSE(e.cpus_per_task) << "stray SLURM_ variables outside a job are ignored";
  Derived d = derive(e);
  EXPECT_FALSE(d.threads_per_worker);
  EXPECT_EQ(d.scratch_dir, "/scratch/me");
  EXPECT_THAT(describe(e, d), HasSubstr("not inside an allocation"));
}

TEST(SlurmEnvironment, MalformedValuesAreNamed) {
  EXPECT_THAT(error_of([] { parse_environment(fixture("malformed_tasks_per_node.env")); }),
              HasSubstr("SLURM_TASKS_PER_NODE=2(3),1: cannot read \"2(3)\" (expected N or N(xR)"));
  EXPECT_THAT(error_of([] { parse_environment(fixture("malformed_mem.env")); }),
              HasSubstr("SLURM_MEM_PER_NODE=lots: expected a size in megabytes"));
  EXPECT_THAT(error_of([] { parse_environment(fixture("malformed_cpus.env")); }),
              HasSubstr("SLURM_CPUS_PER_TASK=-2: expected a positive whole number"));
}

TEST(SlurmSizesAndTimes, Formats) {
  // Slurm writes memory in its own notation: megabytes without a unit, powers of 1024 with one.
  EXPECT_EQ(parse_environment({{"SLURM_JOB_ID", "1"}, {"SLURM_MEM_PER_NODE", "1000"}}).mem_per_node,
            std::uint64_t{1000} << 20);
  EXPECT_EQ(parse_environment({{"SLURM_JOB_ID", "1"}, {"SLURM_MEM_PER_CPU", "64G"}}).mem_per_cpu,
            std::uint64_t{64} << 30);
  EXPECT_EQ(parse_environment({{"SLURM_JOB_ID", "1"}, {"SLURM_MEM_PER_NODE", "2T"}}).mem_per_node,
            std::uint64_t{2} << 40);
  EXPECT_THAT(error_of([] {
                parse_environment({{"SLURM_JOB_ID", "1"}, {"SLURM_MEM_PER_NODE", "12Q"}});
              }),
              HasSubstr("SLURM_MEM_PER_NODE=12Q"));
  EXPECT_EQ(parse_time("30", "t"), 1800);
  EXPECT_EQ(parse_time("10:30", "t"), 630);
  EXPECT_EQ(parse_time("01:00:00", "t"), 3600);
  EXPECT_EQ(parse_time("2-12", "t"), 2 * 86400 + 12 * 3600);
  EXPECT_EQ(parse_time("1-00:00:10", "t"), 86410);
  EXPECT_THAT(error_of([] { parse_time("1:2:3:4", "--time"); }), HasSubstr("--time=1:2:3:4: expected MM"));
}

TEST(SlurmScript, HasEverythingAJobNeeds) {
  ScriptOptions o;
  o.job = "/home/me/anomaly.toml";
  o.tessera = "/opt/tessera/bin/tessera";
  o.nodes = 4;
  o.workers_per_node = 2;
  o.cpus_per_worker = 16;
  o.time = "02:00:00";
  o.partition = "compute";
  o.account = "climate";
  o.mem = "200GiB";
  o.stop_lead_seconds = 600;
  o.run_args = {"--threads", "16"};
  const std::string s = make_script(o);
  for (const char* line :
       {"#!/bin/bash\n", "#SBATCH --job-name=anomaly\n", "#SBATCH --nodes=4\n", "#SBATCH --ntasks=9 ",
        "#SBATCH --cpus-per-task=16\n", "#SBATCH --time=02:00:00\n", "#SBATCH --partition=compute\n",
        "#SBATCH --account=climate\n", "#SBATCH --mem=204800M    # 215 GB\n", "#SBATCH --signal=B:USR1@600 ",
        "#SBATCH --requeue\n",
        "srun --mpi=pmix --cpu-bind=none --kill-on-bad-exit=1 '/opt/tessera/bin/tessera' "
        "run '/home/me/anomaly.toml' "
        "--resume '--threads' '16' &\n",
        "trap ", "kill -USR1 \"$step\"", "if [ \"$status\" -eq 3 ]; then\n",
        "scontrol requeue \"$SLURM_JOB_ID\"\n"}) {
    EXPECT_THAT(s, HasSubstr(line));
  }
  EXPECT_THAT(s, ::testing::Not(HasSubstr("--overcommit")));
  o.requeue = false;
  EXPECT_THAT(make_script(o), ::testing::Not(HasSubstr("scontrol requeue")));
}

TEST(SlurmScript, BadOptionsAreNamed) {
  ScriptOptions o;
  o.job = "a.toml";
  o.nodes = 0;
  EXPECT_THAT(error_of([&] { make_script(o); }), HasSubstr("--nodes 0: must be at least 1"));
  o.nodes = 1;
  o.time = "00:05:00";
  o.stop_lead_seconds = 600;
  EXPECT_THAT(error_of([&] { make_script(o); }),
              HasSubstr("--stop-lead 600 s: must be shorter than --time 00:05:00"));
  o.stop_lead_seconds = 60;
  o.mem = "64000";  // Slurm's megabytes; tessera's sizes are bytes without a unit
  EXPECT_THAT(error_of([&] { make_script(o); }), HasSubstr("--mem \"64000\" is less than 1 MiB"));
  o.mem = "12Q";
  EXPECT_THAT(error_of([&] { make_script(o); }), HasSubstr("--mem \"12Q\" has an unknown unit"));
  o.mem.clear();
  o.partition = "a b";
  EXPECT_THAT(error_of([&] { make_script(o); }), HasSubstr("cannot go into an sbatch line"));
}

}  // namespace
}  // namespace tessera::slurm
