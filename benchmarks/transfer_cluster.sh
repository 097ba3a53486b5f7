#!/bin/sh
# The transfer benchmark across 2 simulated nodes (network namespaces joined over TCP, tests/cluster/cluster.sh):
# rank 0 (scheduler) and rank 1 (the reader) on node 1, rank 2 (the owner) on node 2, so every fetch crosses
# the "network" (TCP over veth pairs on this machine's cores: not a real network). Rows are named
# "<impl>-cross-node". Needs root for the namespaces: otherwise says SKIPPED (stderr) and prints no figures.
# Usage: transfer_cluster.sh BENCH_TRANSFER [ARGS...]   (benchmarks/run transfer calls it)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER="$HERE/../tests/cluster/cluster.sh"
BIN=$1
shift
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
  echo "SKIPPED: cross-node transfer figures need root, ip and unshare (simulated nodes); NOT in this run" >&2
  exit 0
fi
"$CLUSTER" reap
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-cluster.XXXXXX")
cleanup() {
  "$CLUSTER" down "$DIR" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
"$CLUSTER" up "$DIR" 2 >/dev/null
P=$(cat "$DIR/prefix")
# The executor's start-up lines go to stderr; the figures (JSON lines) to stdout.
"$CLUSTER" mpirun "$DIR" --host "${P}n1:2,${P}n2:1" -n 3 --mca btl self,vader,tcp \
  "$BIN" "$@" --impl-suffix -cross-node
