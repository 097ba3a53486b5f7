// A discrete-event simulation of an MPI job around the real scheduling core
// (runtime/src/mpi/scheduler_core.h): rank 0 runs the core itself, on this thread, and every round of it
// (handle the messages that arrived, schedule, flush the orders) takes the simulated time it really took
// here, plus a modelled MPI cost per message. The workers are models: N workers x T threads on nodes of K
// workers, tasks taking the time and making the bytes a cost model gives them, inputs fetched over a modelled
// network (latency and bandwidth within a node and between nodes, each node's NIC moving one transfer at a
// time each way). Workers speak the protocol's real messages (kAssign, kRelease, kPush, kSpill in; kComplete
// out), so the core sees what it sees under mpirun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../runtime/src/mpi/scheduler_core.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"

namespace tessera::sim {

struct Network {
  double latency_node = 0.4e-6;   // one message between two ranks of a node (shared memory)
  double latency_net = 1.5e-6;    // between nodes (an InfiniBand-class network)
  double bandwidth_node = 8e9;    // bytes/s of one transfer within a node
  double bandwidth_net = 12.5e9;  // bytes/s of a node's NIC, each way (100 Gb/s)
  // Rank 0's CPU time per message it sends (MPI_Isend, MPI_Test) and receives (MPI_Iprobe, MPI_Recv):
  // measured here with Open MPI 4.1 over shared memory, 200-byte messages: 0.15-0.21 and 0.21-0.23 us.
  double send_cost = 0.2e-6;
  double recv_cost = 0.25e-6;
};

struct WorkerModel {
  double task_overhead = 1e-6;  // per task on its thread: dispatch, publish, report
  double report_delay = 2e-6;   // a completion waits this long for the communication thread's next report
};

struct Cluster {
  int workers = 16;
  int threads = 16;            // per worker
  int workers_per_node = 4;    // rank 0 counts as one rank of node 0
  bool rma_everywhere = true;  // one-sided gets between all workers (else two-sided across nodes: pushes)
  int max_messages_per_round = 1 << 30;  // the scheduler loop's cap on messages handled before scheduling
  double trace_every = 0;  // > 0: a line of the run's state on stderr every this many simulated seconds
};

// Per plan task: its run time and its result's encoded bytes.
struct Costs {
  std::vector<float> seconds;
  std::vector<std::uint64_t> bytes;
};

struct Result {
  std::uint64_t tasks = 0;
  int workers = 0;
  int threads = 0;
  double makespan = 0;       // simulated seconds from the first round to the last completion handled
  double critical_path = 0;  // the longest path of task times (no communication)
  double work = 0;           // the sum of task times
  double bound() const { return std::max(critical_path, work / (static_cast<double>(workers) * threads)); }
  // Rank 0: the time the core took here (handling messages, scheduling, encoding orders) and the modelled
  // MPI cost of the messages it handled and sent.
  double core_seconds = 0;
  double message_seconds = 0;
  double busy_fraction = 0;  // of the makespan, rank 0 was busy
  std::uint64_t rounds = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t messages_out = 0;
  std::uint64_t control_bytes = 0;                                   // bytes of rank 0's orders
  std::uint64_t bytes_node = 0;                                      // result bytes fetched within nodes
  std::uint64_t bytes_net = 0;                                       // ... between nodes
  std::uint64_t bytes_inline = 0;                                    // ... that rode with an assignment
  std::vector<std::pair<std::string, std::uint64_t>> bytes_by_name;  // fetched bytes by the result's key name
  std::uint64_t peak_worker_bytes = 0;  // the most result bytes one worker held at once (own + copies)
  double mean_peak_worker_bytes = 0;
};

// Runs `plan` to its end. Throws what the core throws (a bug: the simulated workers obey it).
Result simulate(const Graph& graph, const Plan& plan, const Costs& costs, const Cluster& cluster,
                const Network& network = {}, const WorkerModel& model = {},
                const mpi::SchedulerConfig& base = {});

}  // namespace tessera::sim
