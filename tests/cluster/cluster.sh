#!/bin/sh
# A simulated multi-node MPI cluster on one machine, made of network namespaces (adapted from the verified
# set-up in shared/reference/netns-cluster). Needs root.
#
#   cluster.sh up DIR N      make nodes <P>n1..<P>nN (10.200.0.i) on a bridge inside namespace <P>sw, and a head
#                            namespace <P>n0 (10.200.0.254) where mpirun runs; DIR keeps the cluster's state
#   cluster.sh mpirun DIR ARGS...   mpirun in <P>n0 with the nodes' names, e.g. --host <P>n1:2,<P>n2:2
#   cluster.sh down DIR      kill what runs in the namespaces (by PID), delete them (by name); idempotent
#   cluster.sh reap          tear down clusters left by dead drivers (names carry the creator's PID)
#
# <P> is "tc<PID of the creating process>" so that clusters of concurrent runs never share a name; the private
# subnet exists only inside the cluster's namespaces (nothing is added to the root namespace), so concurrent
# clusters may all use 10.200.0.0/24. mpirun runs with a private /etc/hosts and /etc/resolv.conf
# (nameserver 127.0.0.1): no name lookup and no packet leaves the namespaces this script made.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)

namespaces() {  # DIR -> the cluster's namespace names
  p=$(cat "$1/prefix") n=$(cat "$1/nodes")
  echo "${p}sw ${p}n0"
  i=1
  while [ "$i" -le "$n" ]; do echo "${p}n$i"; i=$((i + 1)); done
}

teardown_names() {  # kill processes in the given namespaces (TERM, then KILL), then delete them
  for sig in TERM KILL; do
    killed=0
    for ns in "$@"; do
      [ -e "/run/netns/$ns" ] || continue
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill -s "$sig" $pids 2>/dev/null || true
        killed=1
      fi
    done
    [ "$killed" = 1 ] && [ "$sig" = TERM ] && sleep 0.5
  done
  for ns in "$@"; do
    [ -e "/run/netns/$ns" ] && ip netns del "$ns"
  done
  true
}

case "${1:-}" in
up)
  dir=$2 n=$3
  p="tc$$"
  mkdir -p "$dir/etc" "$dir/tmp"
  echo "$p" > "$dir/prefix"
  echo "$n" > "$dir/nodes"
  { echo "127.0.0.1 localhost"; echo "10.200.0.254 ${p}n0"; } > "$dir/etc/hosts"
  echo "nameserver 127.0.0.1" > "$dir/etc/resolv.conf"
  ip netns add "${p}sw"
  ip -n "${p}sw" link add br0 type bridge
  ip -n "${p}sw" link set br0 up
  i=0
  while [ "$i" -le "$n" ]; do
    ns="${p}n$i"
    addr=$i
    [ "$i" = 0 ] && addr=254
    ip netns add "$ns"
    ip link add "p$i" netns "${p}sw" type veth peer name mpi0 netns "$ns"
    ip -n "${p}sw" link set "p$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "10.200.0.$addr/24" dev mpi0
    ip -n "$ns" link set mpi0 up
    [ "$i" -gt 0 ] && echo "10.200.0.$i $ns" >> "$dir/etc/hosts"
    i=$((i + 1))
  done
  ;;
mpirun)
  dir=$2
  shift 2
  p=$(cat "$dir/prefix")
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
  export TESSERA_CLUSTER_PREFIX="$p" TMPDIR="$dir/tmp"
  # ip netns exec gives a private mount namespace: the bind mounts below are seen by mpirun alone.
  exec ip netns exec "${p}n0" sh -c '
    mount --bind "$0/etc/hosts" /etc/hosts && mount --bind "$0/etc/resolv.conf" /etc/resolv.conf || exit 1
    here=$1
    shift
    exec mpirun --oversubscribe --bind-to none --mca plm_rsh_agent "$here/agent" --mca plm_rsh_no_tree_spawn 1 \
      --mca orte_tmpdir_base "$0/tmp" \
      --mca oob_tcp_if_include 10.200.0.0/24 --mca btl_tcp_if_include 10.200.0.0/24 "$@"' "$dir" "$HERE" "$@"
  ;;
down)
  dir=$2
  [ -f "$dir/prefix" ] || exit 0
  # shellcheck disable=SC2046
  teardown_names $(namespaces "$dir")
  rm -rf "$dir/tmp"
  ;;
reap)
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^tc[0-9]+(sw|n[0-9]+)$' || true); do
    pid=$(echo "$ns" | sed -E 's/^tc([0-9]+).*/\1/')
    kill -0 "$pid" 2>/dev/null && continue  # its creator still runs
    echo "cluster.sh: removing $ns left by dead process $pid" >&2
    teardown_names "$ns"
  done
  ;;
*)
  echo "usage: cluster.sh up DIR N | mpirun DIR ARGS... | down DIR | reap" >&2
  exit 2
  ;;
esac
