// Slurm environment parsing on recorded SLURM_* fixtures (tests/slurm/fixtures: overcommit_*, cpus_per_task_*
// and plane_* were dumped by jobs on the test Slurm, the rest describe documented layouts and malformed
// values), derivation, node shapes (sinfo_test_cluster.txt is what the test Slurm's sinfo printed,
// sinfo_mixed.txt a made-up cluster with several node shapes), layouts and the generated sbatch script.
#include "tessera/slurm/slurm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

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

std::string text_fixture(const std::string& name) {
  std::ifstream in(std::string(TESSERA_SLURM_FIXTURES) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string error_of(const std::function<void()>& f, ErrorCode code = ErrorCode::kInvalidArgument) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  return "no error";
}

// The shapes of the test Slurm's partitions, as sinfo reports them.
NodeShape partition(const std::string& name) {
  return shape_from_sinfo(text_fixture("sinfo_test_cluster.txt"), name);
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

TEST(SlurmEnvironment, RecordedLayoutsGiveEachWorkerItsCpus) {
  // The generated script's step on a 2 x 32 node: the scheduler and two workers on one node, each worker told
  // its 32 CPUs although the node's 64 are shared by 3 tasks.
  Environment wide = parse_environment(fixture("plane_wide_2x32_rank2.env"));
  EXPECT_EQ(wide.tasks_per_node, std::vector<int>{3});
  EXPECT_EQ(derive(wide).threads_per_worker, 32);
  // Two nodes, two workers each: ranks 0, 1, 4 on the first node, 2, 3 on the second.
  Environment two = parse_environment(fixture("plane_2nodes_2x1_rank3.env"));
  EXPECT_EQ(two.tasks_per_node, (std::vector<int>{3, 2}));
  EXPECT_EQ(two.node_id, 1);
  EXPECT_EQ(derive(two).threads_per_worker, 1);
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

TEST(SlurmNodeShape, FromSinfo) {
  const NodeShape ci = shape_from_sinfo(text_fixture("sinfo_test_cluster.txt"), "");  // the default partition
  EXPECT_EQ(ci.source, "sinfo, partition ci");
  EXPECT_EQ(ci.cpus(), 2);
  EXPECT_EQ(ci.nodes, 2);
  EXPECT_EQ(ci.memory, std::uint64_t{19284} << 20);
  const NodeShape smt = partition("smt");
  EXPECT_EQ(smt.sockets, 1);
  EXPECT_EQ(smt.cores_per_socket, 64);
  EXPECT_EQ(smt.threads_per_core, 2);
  EXPECT_EQ(smt.describe(), "1 socket x 64 cores x 2 threads = 128 CPUs, 512000 MiB");
  EXPECT_EQ(partition("wide").describe(), "2 sockets x 32 cores = 64 CPUs, 256000 MiB");
  EXPECT_EQ(partition("numa").domains(), 4);

  // A partition with two node shapes is described by its smallest, counting all its nodes; '+' (a figure that
  // varies within a line) and N/A are understood.
  const std::string mixed = text_fixture("sinfo_mixed.txt");
  const NodeShape compute = shape_from_sinfo(mixed, "");
  EXPECT_EQ(compute.cores_per_socket, 24);
  EXPECT_EQ(compute.nodes, 128);
  EXPECT_EQ(compute.source, "sinfo, partition compute; the smallest of its 2 node shapes");
  EXPECT_FALSE(shape_from_sinfo(mixed, "debug").memory);
  EXPECT_EQ(shape_from_sinfo(mixed, "bigmem").memory, std::uint64_t{1024000} << 20);

  EXPECT_THAT(error_of([&] { shape_from_sinfo(mixed, "gpu"); }, ErrorCode::kNotFound),
              HasSubstr("Slurm has no partition \"gpu\" (partitions: compute, bigmem, debug)"));
  EXPECT_THAT(error_of([] { shape_from_sinfo("a|1|2|1|1000|1\n", ""); }, ErrorCode::kNotFound),
              HasSubstr("Slurm has no default partition (partitions: a): give --partition"));
  EXPECT_THAT(error_of([] { shape_from_sinfo("a*|1|2|1000|1\n", ""); }),
              HasSubstr("cannot read sinfo's line \"a*|1|2|1000|1\": expected partition|sockets|"));
  EXPECT_THAT(error_of([] { shape_from_sinfo("a*|two|2|1|1000|1\n", ""); }),
              HasSubstr("sockets \"two\" is not a number"));
}

TEST(SlurmNodeShape, FromTheCommandLine) {
  const NodeShape s = parse_node_shape("sockets=2, cores=32, mem=256GB");
  EXPECT_EQ(s.cpus(), 64);
  EXPECT_EQ(s.memory, std::uint64_t{256'000'000'000});
  EXPECT_EQ(s.source, "--node-shape");
  const NodeShape n = parse_node_shape("sockets=2,cores=32,threads=2,numa=8");
  EXPECT_EQ(n.cpus(), 128);
  EXPECT_EQ(n.domains(), 8);
  EXPECT_EQ(n.describe(), "2 sockets x 32 cores x 2 threads = 128 CPUs, 8 NUMA domains");
  EXPECT_THAT(error_of([] { parse_node_shape("sockets=2"); }), HasSubstr("sockets and cores are required"));
  EXPECT_THAT(error_of([] { parse_node_shape("sockets=2,cores=32,gpus=4"); }),
              HasSubstr("unknown key \"gpus\""));
  EXPECT_THAT(error_of([] { parse_node_shape("sockets=0,cores=32"); }),
              HasSubstr("sockets=0 is not a positive whole number"));
  EXPECT_THAT(error_of([] { parse_node_shape("sockets=2,cores"); }), HasSubstr("\"cores\" is not KEY=VALUE"));
  EXPECT_THAT(error_of([] { parse_node_shape("sockets=2,cores=4,mem=lots"); }),
              HasSubstr("--node-shape mem"));
}

ScriptOptions on(const NodeShape& node) {
  ScriptOptions o;
  o.job = "/home/me/anomaly.toml";
  o.node = node;
  return o;
}

TEST(SlurmLayout, DefaultsFillTheNode) {
  // One worker per NUMA domain (or socket) with all of its CPUs: the shapes of the issue that asked for it.
  struct Case {
    const char* partition;
    int workers, cpus;
  };
  for (const Case& c : {Case{"wide", 2, 32}, Case{"numa", 4, 16}, Case{"smt", 1, 128}, Case{"ci", 1, 2}}) {
    const Layout l = plan_layout(on(partition(c.partition)));
    EXPECT_EQ(l.workers_per_node, c.workers) << c.partition;
    EXPECT_EQ(l.cpus_per_worker, c.cpus) << c.partition;
    EXPECT_EQ(l.mem_mib, 0u) << c.partition;
  }
  ScriptOptions o = on(parse_node_shape("sockets=2,cores=32,numa=8"));
  EXPECT_EQ(plan_layout(o).workers_per_node, 8);
  EXPECT_EQ(plan_layout(o).cpus_per_worker, 8);
  o = on(partition("wide"));
  const Layout l = plan_layout(o);
  ASSERT_EQ(l.notes.size(), 2u);
  EXPECT_EQ(l.notes[0], "nodes: 2 sockets x 32 cores = 64 CPUs, 256000 MiB; sinfo, partition wide");
  EXPECT_EQ(l.notes[1],
            "layout: 1 node x 2 workers x 32 CPUs, and the scheduler (rank 0) beside the first node's "
            "workers");
}

TEST(SlurmLayout, ChosenLayoutsThatFit) {
  ScriptOptions o = on(partition("wide"));
  o.workers_per_node = 4;
  o.cpus_per_worker = 16;
  o.mem = "250G";
  Layout l = plan_layout(o);
  EXPECT_EQ(l.mem_mib, 250'000'000'000ull >> 20);
  o.workers_per_node = 1;
  o.cpus_per_worker.reset();
  o.mem.clear();
  EXPECT_EQ(plan_layout(o).cpus_per_worker, 64);
  o.workers_per_node = 3;  // 3 x 21: one CPU idle, said so
  l = plan_layout(o);
  EXPECT_EQ(l.cpus_per_worker, 21);
  EXPECT_THAT(l.notes.back(), HasSubstr("note: 63 of a node's 64 CPUs are used; 1 stays idle"));
  o.workers_per_node = 1;
  o.cpus_per_worker = 16;
  o.exclusive = false;
  EXPECT_THAT(plan_layout(o).notes.back(), HasSubstr("16 of a node's 64 CPUs are used (--no-exclusive"));
}

TEST(SlurmLayout, RequestsThatCannotFitAreRefusedNamingTheNode) {
  ScriptOptions o = on(partition("wide"));
  o.workers_per_node = 3;
  o.cpus_per_worker = 32;
  EXPECT_THAT(
      error_of([&] { plan_layout(o); }),
      HasSubstr("3 workers x 32 CPUs = 96 CPUs per node do not fit: a node has 64 CPUs (2 sockets x 32 "
                "cores = 64 CPUs, 256000 MiB; sinfo, partition wide)"));
  o.workers_per_node = 65;
  o.cpus_per_worker.reset();
  EXPECT_THAT(error_of([&] { plan_layout(o); }),
              HasSubstr("65 workers per node do not fit: a node has 64 CPUs"));
  o.workers_per_node.reset();
  o.mem = "300GB";
  EXPECT_THAT(error_of([&] { plan_layout(o); }),
              HasSubstr("--mem 300GB (286102 MiB) per node does not fit: a node has 256000 MiB"));
  o.mem = "64000";  // Slurm's megabytes; tessera's sizes are bytes without a unit
  EXPECT_THAT(error_of([&] { plan_layout(o); }), HasSubstr("--mem \"64000\" is less than 1 MiB"));
  o.mem = "12Q";
  EXPECT_THAT(error_of([&] { plan_layout(o); }), HasSubstr("--mem \"12Q\" has an unknown unit"));
  o = on(partition("ci"));
  o.nodes = 3;
  EXPECT_THAT(error_of([&] { plan_layout(o); }),
              HasSubstr("--nodes 3: the partition has 2 nodes (1 socket x 2 cores"));
  o.nodes = 0;
  EXPECT_THAT(error_of([&] { plan_layout(o); }), HasSubstr("--nodes 0: must be at least 1"));
}

TEST(SlurmArray, Specs) {
  ArraySpec a = parse_array("10");
  EXPECT_EQ(a.slurm, "0-9");
  EXPECT_EQ(a.ids.size(), 10u);
  a = parse_array("1981-2010");
  EXPECT_EQ(a.slurm, "1981-2010");
  EXPECT_EQ(a.ids.front(), 1981);
  EXPECT_EQ(a.ids.size(), 30u);
  EXPECT_EQ(parse_array("0-10:5%2").ids, (std::vector<int>{0, 5, 10}));
  EXPECT_EQ(parse_array("7,3,5-6,3").ids, (std::vector<int>{3, 5, 6, 7}));
  EXPECT_THAT(error_of([] { parse_array("5-1"); }),
              HasSubstr("--array \"5-1\": the range \"5-1\" ends before it"));
  EXPECT_THAT(error_of([] { parse_array("0"); }), HasSubstr("the number of tasks must be at least 1"));
  EXPECT_THAT(error_of([] { parse_array("a-b"); }), HasSubstr("cannot read \"a-b\""));
  EXPECT_THAT(error_of([] { parse_array("1,,2"); }), HasSubstr("cannot read \"\""));
  EXPECT_THAT(error_of([] { parse_array("0-9%0"); }), HasSubstr("%MAX must be a positive whole number"));
  EXPECT_THAT(error_of([] { parse_array(""); }), HasSubstr("no task IDs"));
}

TEST(SlurmScript, HasEverythingAJobNeeds) {
  ScriptOptions o = on(partition("wide"));
  o.tessera = "/opt/tessera/bin/tessera";
  o.nodes = 1;
  o.time = "02:00:00";
  o.partition = "wide";
  o.account = "climate";
  o.stop_lead_seconds = 600;
  o.run_args = {"--show-binding"};
  const std::string s = make_script(o);
  for (const char* line :
       {"#!/bin/bash\n",
        "# Nodes: 2 sockets x 32 cores = 64 CPUs, 256000 MiB (sinfo, partition wide).\n",
        "#SBATCH --job-name=anomaly\n",
        "#SBATCH --nodes=1\n",
        "#SBATCH --ntasks-per-node=2 ",
        "#SBATCH --cpus-per-task=32 ",
        "#SBATCH --exclusive ",
        "#SBATCH --mem=0 ",
        "#SBATCH --time=02:00:00\n",
        "#SBATCH --partition=wide\n",
        "#SBATCH --account=climate\n",
        "#SBATCH --signal=B:USR1@600 ",
        "#SBATCH --requeue\n",
        "#SBATCH --output=%x-%j.out\n",
        "workers_per_node=$SLURM_NTASKS_PER_NODE\n",
        "unset SLURM_NTASKS_PER_NODE\n",
        "srun --mpi=pmix --cpu-bind=none --kill-on-bad-exit=1 --overcommit \\\n"
        "  --ntasks=$((SLURM_JOB_NUM_NODES * workers_per_node + 1)) --distribution=plane=$workers_per_node "
        "\\\n"
        "  '/opt/tessera/bin/tessera' run '/home/me/anomaly.toml' --resume '--show-binding' &\n",
        "trap ",
        "kill -USR1 \"$step\"",
        "if [ \"$status\" -eq 3 ]; then\n",
        "scontrol requeue \"$SLURM_JOB_ID\"\n"}) {
    EXPECT_THAT(s, HasSubstr(line));
  }
  EXPECT_THAT(s, ::testing::Not(HasSubstr("--array")));
  o.requeue = false;
  EXPECT_THAT(make_script(o), ::testing::Not(HasSubstr("scontrol requeue")));
}

TEST(SlurmScript, MemoryArraysAndSharedNodes) {
  ScriptOptions o = on(partition("wide"));
  o.mem = "200GiB";
  o.array = "1981-2010%5";
  std::string s = make_script(o);
  EXPECT_THAT(s, HasSubstr("#SBATCH --mem=204800M    # per node: 215 GB\n"));
  EXPECT_THAT(s, HasSubstr("#SBATCH --exclusive "));
  EXPECT_THAT(
      s, HasSubstr("#SBATCH --array=1981-2010%5    # 30 tasks: ${SLURM_ARRAY_TASK_ID} in the job file\n"));
  EXPECT_THAT(s, HasSubstr("#SBATCH --output=%x-%A_%a.out\n"));
  // Not $SLURM_JOB_ID: one task has the array's own ID, and requeueing that requeues every task.
  EXPECT_THAT(s, HasSubstr("  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"));
  o.mem.clear();
  o.array.clear();
  o.exclusive = false;
  o.workers_per_node = 1;
  o.cpus_per_worker = 8;
  s = make_script(o);
  EXPECT_THAT(s, ::testing::Not(HasSubstr("--exclusive")));
  EXPECT_THAT(s, ::testing::Not(HasSubstr("--mem")));
  EXPECT_THAT(s, HasSubstr("#SBATCH --cpus-per-task=8 "));
}

TEST(SlurmScript, BadOptionsAreNamed) {
  ScriptOptions o = on(partition("ci"));
  o.time = "00:05:00";
  o.stop_lead_seconds = 600;
  EXPECT_THAT(error_of([&] { make_script(o); }),
              HasSubstr("--stop-lead 600 s: must be shorter than --time 00:05:00"));
  o.stop_lead_seconds = 60;
  o.array = "3-1";
  EXPECT_THAT(error_of([&] { make_script(o); }), HasSubstr("--array \"3-1\""));
  o.array.clear();
  o.partition = "a b";
  EXPECT_THAT(error_of([&] { make_script(o); }), HasSubstr("cannot go into an sbatch line"));
  o.partition.clear();
  o.output = "log $x";
  EXPECT_THAT(error_of([&] { make_script(o); }), HasSubstr("\"log $x\" cannot go into an sbatch line"));
}

}  // namespace
}  // namespace tessera::slurm
