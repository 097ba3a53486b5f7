#!/bin/sh
# CTest driver (label `cluster`): an example-style job through the `tessera` command line across 3 simulated
# nodes (network namespaces over TCP, see cluster.sh), 1 scheduler + 1 worker per node:
#   1. its output file is byte-identical to a run on local threads;
#   2. the ranks of one node are killed (SIGKILL, every process in that node's namespace) mid-run: the job ends
#      by itself with a non-zero status, no output appears under the final name, the journal survives, and a
#      local `tessera run --resume` completes it with byte-identical output.
# Needs root (network namespaces): otherwise prints SKIPPED and exits 77.
# Usage: run_job.sh TESSERA WORKDIR [TIMEOUT_SECONDS]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TESSERA=$1
WORK=$2
LIMIT=${3:-300}

if [ "$(id -u)" != 0 ]; then
  echo "************************************************************************"
  echo "SKIPPED: the simulated multi-node cluster test needs root (network namespaces)."
  echo "************************************************************************"
  exit 77
fi
"$HERE/cluster.sh" reap
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tessera-cluster.XXXXXX")
cleanup() {
  "$HERE/cluster.sh" down "$DIR" || true
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

rm -rf "$WORK"
mkdir -p "$WORK/local" "$WORK/cluster" "$WORK/killed"
for d in local cluster killed; do
  cat > "$WORK/$d/job.toml" <<'JOB'
[arrays]
x = 'random_normal([600, 200, 200], chunks=[10, 200, 200], dtype="float32", seed=3)'
anom = "(x - mean(x, axis=0)) / std(x, axis=0)"
clim = "mean(x, axis=0)"

[outputs.anom]
file = "anom.nc"
compression = 1

[outputs.clim]
file = "clim.nc"
JOB
done
(cd "$WORK/local" && TESSERA_EXECUTOR=threads "$TESSERA" run job.toml -q)

"$HERE/cluster.sh" up "$DIR" 3
P=$(cat "$DIR/prefix")
run_on_cluster() {  # DIR_OF_JOB
  cd "$1" && timeout -k 10 "$LIMIT" "$HERE/cluster.sh" mpirun "$DIR" --host "${P}n1:2,${P}n2:1,${P}n3:1" -n 4 \
    --mca btl self,vader,tcp "$TESSERA" run job.toml
}

echo "cluster: 1. the job across 3 nodes"
(run_on_cluster "$WORK/cluster")
for f in anom.nc clim.nc; do
  if ! cmp -s "$WORK/local/$f" "$WORK/cluster/$f"; then
    echo "FAILED: $f written across 3 nodes differs from the local run's" >&2
    exit 1
  fi
done
echo "cluster: outputs byte-identical to the local run"

echo "cluster: 2. node 3 dies mid-run"
started=$(date +%s)
(run_on_cluster "$WORK/killed") > "$WORK/killed.log" 2>&1 &
job=$!
i=0
until [ -n "$(find "$WORK/killed/.anom.nc.tessera" -name 'journal-*' -size +47c 2>/dev/null)" ]; do
  i=$((i + 1))
  if [ "$i" -gt 3000 ]; then echo "FAILED: no chunk was journalled" >&2; cat "$WORK/killed.log"; exit 1; fi
  sleep 0.05
done
pids=$(ip netns pids "${P}n3")
echo "cluster: killing node 3 (pids $pids)"
# shellcheck disable=SC2086
kill -9 $pids
status=0
wait $job || status=$?
cat "$WORK/killed.log"
if [ "$status" = 0 ]; then echo "FAILED: the job exited 0 although a node died" >&2; exit 1; fi
elapsed=$(($(date +%s) - started))
echo "cluster: the job ended by itself with status $status, $elapsed s after it started"
if [ "$elapsed" -ge "$LIMIT" ]; then
  echo "FAILED: the job hung after a node died (ended by the $LIMIT s timeout)" >&2
  exit 1
fi
if [ -e "$WORK/killed/anom.nc" ]; then echo "FAILED: a killed job left a file under the final name" >&2; exit 1; fi
(cd "$WORK/killed" && TESSERA_EXECUTOR=threads "$TESSERA" run job.toml --resume) | tee "$WORK/resume.log"
grep -q "resumed from the journal" "$WORK/resume.log" || { echo "FAILED: --resume did not resume" >&2; exit 1; }
for f in anom.nc clim.nc; do
  if ! cmp -s "$WORK/local/$f" "$WORK/killed/$f"; then
    echo "FAILED: $f resumed after the node died differs from the local run's" >&2
    exit 1
  fi
done
echo "cluster: passed"
