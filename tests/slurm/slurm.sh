#!/bin/bash
# The test Slurm: a real Slurm 22.05 cluster on one machine (munge, one slurmctld, one slurmd per node; no
# systemd, no accounting), every daemon in a network namespace of its own, as in tests/cluster and the project's
# verified reference set-ups (shared/reference/localhost-slurm, netns-cluster).
#
#   slurm.sh up STATE          start it, with its state in folder STATE; prints the partitions
#   slurm.sh exec STATE CMD..  run CMD on the "login node" (the head namespace, where slurmctld runs), e.g.
#                              slurm.sh exec STATE sbatch job.sbatch
#   slurm.sh down STATE        stop it: every process in its namespaces (by PID), then the namespaces (by name);
#                              idempotent, and also after a failed `up`
#
# Nodes (each its own network + UTS namespace: own hostname and address on 10.201.0.0/24, a subnet that exists
# only inside namespaces made here; own /dev/shm and Slurm's TmpFS, as a real node has):
#   partition ci (default): node1, node2   this machine's CPUs and memory: jobs really run here, on 2 nodes
#   partition wide:  wide1    2 sockets x 32 cores, 256 GB      (declared through SlurmdParameters=config_overrides:
#   partition numa:  numa1    4 sockets x 16 cores, 256 GB       the slurmd registers the node line's shape, so
#   partition smt:   smt1     1 socket x 64 cores x 2 threads, 512 GB   the controller answers as for real nodes)
# Nothing listens outside the namespaces, and no name lookup leaves them: every daemon and client sees a
# private /etc/hosts and /etc/resolv.conf (nameserver 127.0.0.1). Run Slurm commands only through `exec`: from
# the machine's own namespace the cluster's addresses would go to its default route.
#
# Needs root, ip (iproute2), unshare (util-linux) and Debian's slurmctld slurmd slurm-client munge (./bootstrap
# installs them). Exits 77 when they are missing or when not root (CTest reports the tests as skipped).
set -uo pipefail
cmd=${1:?up|exec|down}
R=$(realpath -m "${2:?state folder}")
here=$(cd "$(dirname "$0")" && pwd)
nodes="node1 node2 wide1 numa1 smt1"

namespaces() {
  [ -f "$R/prefix" ] || return 0
  local p
  p=$(cat "$R/prefix")
  echo "${p}sw ${p}head"
  for n in $nodes; do echo "$p$n"; done
}

down() {
  # Daemons first, by their recorded PIDs (all at once: each takes a moment to stop), then whatever else still
  # runs in the namespaces (job steps, ranks), then the namespaces themselves.
  local daemons=""
  for f in "$R"/pids/slurmd-*.pid "$R"/pids/slurmctld.pid "$R"/pids/munged.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill "$p" 2>/dev/null && daemons="$daemons $p"
    rm -f "$f"
  done
  for _ in $(seq 1 50); do
    local left=""
    for p in $daemons; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
    daemons=$left
    [ -z "$daemons" ] && break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  [ -n "$daemons" ] && kill -9 $daemons 2>/dev/null
  local nss
  nss=$(namespaces)
  for sig in TERM KILL; do
    local killed=0
    for ns in $nss; do
      [ -e "/run/netns/$ns" ] || continue
      pids=$(ip netns pids "$ns" 2>/dev/null)
      if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill -s $sig $pids 2>/dev/null
        killed=1
      fi
    done
    [ $killed = 1 ] && [ $sig = TERM ] && sleep 0.5
  done
  for ns in $nss; do
    [ -e "/run/netns/$ns" ] && ip netns del "$ns"
  done
  rm -f "$R/prefix"
  true
}

# in_namespace NS HOSTNAME CMD...: run CMD in network namespace NS, in private UTS and mount namespaces: its own
# hostname, /etc/hosts and /etc/resolv.conf and, for a node, its own /dev/shm. (nsenter rather than
# `ip netns exec`, which would remount /sys and hide the cgroup hierarchies that slurmd checks at start.)
in_namespace() {
  local ns=$1 host=$2
  shift 2
  exec nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private sh -c '
    R=$0 host=$1
    shift
    hostname "$host" || exit 1
    mount --bind "$R/etc/hosts" /etc/hosts && mount --bind "$R/etc/resolv.conf" /etc/resolv.conf || exit 1
    if [ "$host" != head ]; then mount -t tmpfs -o mode=1777 "shm-$host" /dev/shm || exit 1; fi
    exec "$@"' "$R" "$host" "$@"
}

case "$cmd" in
  down)
    down
    exit 0
    ;;
  exec)
    shift 2
    [ -f "$R/prefix" ] || { echo "slurm.sh: no test Slurm in $R" >&2; exit 1; }
    export SLURM_CONF="$R/slurm.conf"
    in_namespace "$(cat "$R/prefix")head" head "$@"
    ;;
  up) ;;
  *)
    echo "usage: slurm.sh up|exec|down STATE" >&2
    exit 2
    ;;
esac

if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: a test Slurm needs root (network namespaces, daemons)" >&2; exit 77; fi
for t in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/sbin/mungekey sbatch sinfo ip unshare nsenter; do
  command -v "$t" >/dev/null || {
    echo "SKIPPED: $t is missing (apt-get install slurmctld slurmd slurm-client munge iproute2 util-linux)" >&2
    exit 77
  }
done
down # what a killed earlier run left in this state folder
p="ts$(od -An -N4 -tx1 /dev/urandom | tr -d " \n")"    # unique among clusters of concurrent runs
cpus=$(nproc)
mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
mkdir -p "$R"/pids "$R"/etc "$R"/nodes "$R"/slurm/{state,spool,log} "$R"/munge && chmod 711 "$R"/munge
rm -rf "$R"/slurm/state/* "$R"/slurm/spool/*
{
  echo "127.0.0.1 localhost"
  echo "10.201.0.254 head"
} > "$R/etc/hosts"
echo "nameserver 127.0.0.1" > "$R/etc/resolv.conf"
node_lines=""
i=0
for n in $nodes; do
  i=$((i + 1))
  echo "10.201.0.$i $n" >> "$R/etc/hosts"
  mkdir -p "$R/nodes/$n/tmp" "$R/slurm/spool/$n"
  case $n in
    node*) shape="CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem_mb" ;;
    wide*) shape="CPUs=64 Boards=1 SocketsPerBoard=2 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=256000" ;;
    numa*) shape="CPUs=64 Boards=1 SocketsPerBoard=4 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=256000" ;;
    smt*) shape="CPUs=128 Boards=1 SocketsPerBoard=1 CoresPerSocket=64 ThreadsPerCore=2 RealMemory=512000" ;;
  esac
  node_lines+="NodeName=$n NodeAddr=10.201.0.$i $shape State=UNKNOWN"$'\n'
done
node_lines+="PartitionName=ci Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP"$'\n'
node_lines+="PartitionName=wide Nodes=wide1 MaxTime=INFINITE State=UP"$'\n'
node_lines+="PartitionName=numa Nodes=numa1 MaxTime=INFINITE State=UP"$'\n'
node_lines+="PartitionName=smt Nodes=smt1 MaxTime=INFINITE State=UP"
awk -v R="$R" -v nodes="$node_lines" '{ gsub("@ROOT@", R); if ($0 == "@NODES@") print nodes; else print }' \
  "$here/slurm.conf.in" > "$R/slurm.conf"
export SLURM_CONF="$R/slurm.conf"

# The namespaces: a bridge in its own namespace joins the head and the nodes (nothing in the root namespace).
echo "$p" > "$R/prefix"
fail() {
  echo "slurm.sh: $*" >&2
  for f in "$R"/slurm/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  down
  exit 1
}
ip netns add "${p}sw" && ip -n "${p}sw" link add br0 type bridge && ip -n "${p}sw" link set br0 up ||
  fail "could not make the namespaces"
i=0
for n in head $nodes; do
  addr=$i
  [ "$n" = head ] && addr=254
  ip netns add "$p$n" &&
    ip link add "v$i" netns "${p}sw" type veth peer name eth0 netns "$p$n" &&
    ip -n "${p}sw" link set "v$i" master br0 up &&
    ip -n "$p$n" link set lo up &&
    ip -n "$p$n" addr add "10.201.0.$addr/24" dev eth0 &&
    ip -n "$p$n" link set eth0 up || fail "could not make namespace $p$n"
  i=$((i + 1))
done

[ -f "$R"/munge/munge.key ] || { mungekey --create --keyfile="$R"/munge/munge.key && chmod 600 "$R"/munge/munge.key; }
# munged needs no network; it runs in the head namespace so that `down` finds it there too.
ip netns exec "${p}head" /usr/sbin/munged --key-file="$R"/munge/munge.key --socket="$R"/munge/munge.socket.2 \
  --pid-file="$R"/pids/munged.pid --log-file="$R"/munge/munged.log --seed-file="$R"/munge/munged.seed ||
  fail "munged did not start"
(in_namespace "${p}head" head /usr/sbin/slurmctld -D) > "$R"/slurm/log/slurmctld.stdout 2>&1 &
echo $! > "$R"/pids/slurmctld.pid
for n in $nodes; do
  (in_namespace "$p$n" "$n" /usr/sbin/slurmd -D -N "$n") > "$R/slurm/log/slurmd-$n.stdout" 2>&1 &
  echo $! > "$R/pids/slurmd-$n.pid"
done
want=$(echo $nodes | wc -w)
for _ in $(seq 1 150); do
  idle=$("$0" exec "$R" sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle$')
  if [ "$idle" = "$want" ]; then
    echo "SLURM_CONF=$SLURM_CONF"
    "$0" exec "$R" sinfo -o '%P %D %c %X %Y %Z %m %t'
    exit 0
  fi
  sleep 0.2
done
"$0" exec "$R" sinfo -N >&2
fail "the nodes did not all reach idle"
