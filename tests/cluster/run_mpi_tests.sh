#!/bin/sh
# CTest driver (label `cluster`): runs the MPI test binary across 2 simulated nodes (network namespaces joined
# over TCP, see cluster.sh) with 2 ranks each, and checks that
#   - every MPI test passes there (results bit-identical to the local executors: the tests compare them),
#   - node-local ranks from MPI_Comm_split_type match the placement (TESSERA_EXPECT_NODE_SIZES),
#   - the data plane is RMA within nodes and two-sided between them (TESSERA_EXPECT_TRANSFER), and every pair
#     of workers moved its bytes on the path that implies (MpiTransfer.EveryPairOfWorkersMovesBytesOnTheExpectedPath),
#   - bytes really crossed between the nodes: the second node's interface counters grew.
# The cluster is torn down by name and PID on exit, also after a failure or a signal; clusters left by a
# driver that was killed outright (SIGKILL on a CTest timeout) are reaped by the next run.
# Needs root (network namespaces): otherwise prints SKIPPED and exits 77 (CTest SKIP_RETURN_CODE).
# Usage: run_mpi_tests.sh MPI_TESTS_BINARY [TIMEOUT_SECONDS]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$1
LIMIT=${2:-240}

if [ "$(id -u)" != 0 ]; then
  echo "************************************************************************"
  echo "SKIPPED: the simulated multi-node cluster test needs root (network namespaces)."
  echo "         CI runs it as root; run 'ctest -L cluster' as root to check it here."
  echo "************************************************************************"
  exit 77
fi
for tool in ip unshare mpirun timeout; do
  command -v "$tool" >/dev/null || { echo "FAILED: $tool not found" >&2; exit 1; }
done

"$HERE/cluster.sh" reap
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tessera-cluster.XXXXXX")
cleanup() {
  "$HERE/cluster.sh" down "$DIR" || true
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"$HERE/cluster.sh" up "$DIR" 2
P=$(cat "$DIR/prefix")
tx_bytes() { ip netns exec "${P}n2" cat /sys/class/net/mpi0/statistics/tx_bytes; }
before=$(tx_bytes)

# Ranks 0,1 on node 1 and 2,3 on node 2 (by slot). vader within a node, tcp between nodes.
export TESSERA_EXPECT_NODE_SIZES=2,2
export TESSERA_EXPECT_TRANSFER="rma within nodes, two-sided between nodes"
status=0
# In the background: `wait` returns at once when a signal arrives, so the traps tear the cluster down promptly.
timeout -k 10 "$LIMIT" "$HERE/cluster.sh" mpirun "$DIR" --host "${P}n1:2,${P}n2:2" -n 4 \
  --mca btl self,vader,tcp -x TESSERA_EXPECT_NODE_SIZES -x TESSERA_EXPECT_TRANSFER \
  "$BIN" &
wait $! || status=$?
after=$(tx_bytes)
crossed=$((after - before))
echo "cluster: node 2 sent $crossed bytes over its network interface"
if [ "$status" != 0 ]; then
  echo "FAILED: the MPI tests failed across the simulated nodes (status $status)" >&2
  exit 1
fi
# The tests move several MiB between workers on different nodes; control traffic alone is far less.
if [ "$crossed" -lt 4000000 ]; then
  echo "FAILED: only $crossed bytes left node 2: chunks did not cross the network" >&2
  exit 1
fi
echo "cluster: passed"
