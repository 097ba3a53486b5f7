#!/bin/bash
# A real single-node Slurm (munge + slurmctld + slurmd, no systemd, no accounting) for the tests, adapted from
# the project's verified reference set-up.
#   slurm.sh up STATE      start it with its state in STATE (fresh folder); prints SLURM_CONF=...
#   slurm.sh down STATE    stop what `up` started, by PID, in reverse order (also after a failed `up`)
# Needs root and Debian's slurmctld slurmd slurm-client munge (./bootstrap installs them). Exit 77 when they are
# missing or when not root (CTest reports the tests as skipped, loudly).
set -uo pipefail
cmd=${1:?up|down}
R=$(realpath -m "${2:?state folder}")
here=$(cd "$(dirname "$0")" && pwd)

down() {
  for d in slurmd slurmctld munged; do
    f="$R"/pids/$d.pid
    [ -f "$f" ] || continue
    p=$(cat "$f")
    if kill -0 "$p" 2>/dev/null; then
      kill "$p"
      for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$p" 2>/dev/null
    fi
    rm -f "$f"
  done
}

case "$cmd" in
  down) down; exit 0 ;;
  up) ;;
  *) echo "usage: slurm.sh up|down STATE" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: a test Slurm needs root" >&2; exit 77; fi
for t in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/sbin/mungekey sbatch sinfo; do
  command -v "$t" >/dev/null || { echo "SKIPPED: $t is missing (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 77; }
done
# Ports 6817/6818 are fixed in the config: stop what a killed earlier run left in this state folder first.
down
# Anything else holding them (a real Slurm, or daemons of a killed run whose state folder is gone) is not ours
# to stop: say who it is instead of timing out.
if command -v ss >/dev/null; then
  for port in 6817 6818; do
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(.*)' | head -1)
    if [ -n "$holder" ]; then
      echo "port $port is already in use by $holder: another Slurm runs on this machine (perhaps left by a" \
        "killed test run whose state folder is gone); stop it, then run the tests again" >&2
      exit 1
    fi
  done
fi
H=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
mkdir -p "$R"/pids "$R"/slurm/{state,spool,log} "$R"/munge && chmod 711 "$R"/munge
sed -e "s#@ROOT@#$R#g" -e "s#@HOST@#$H#g" -e "s#CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2#CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus#" \
  -e "s#RealMemory=20000#RealMemory=$mem_mb#" "$here"/slurm.conf.in > "$R"/slurm.conf
export SLURM_CONF="$R"/slurm.conf
[ -f "$R"/munge/munge.key ] || { mungekey --create --keyfile="$R"/munge/munge.key; chmod 600 "$R"/munge/munge.key; }
/usr/sbin/munged --key-file="$R"/munge/munge.key --socket="$R"/munge/munge.socket.2 \
  --pid-file="$R"/pids/munged.pid --log-file="$R"/munge/munged.log --seed-file="$R"/munge/munged.seed || { down; exit 1; }
/usr/sbin/slurmctld -D > "$R"/slurm/log/slurmctld.stdout 2>&1 &
echo $! > "$R"/pids/slurmctld.pid
/usr/sbin/slurmd -D > "$R"/slurm/log/slurmd.stdout 2>&1 &
echo $! > "$R"/pids/slurmd.pid
for _ in $(seq 1 100); do
  if sinfo -h -o %t 2>/dev/null | grep -qx idle; then echo "SLURM_CONF=$SLURM_CONF"; exit 0; fi
  sleep 0.3
done
echo "slurm did not reach idle; logs in $R/slurm/log" >&2
tail -n 20 "$R"/slurm/log/slurmctld.log "$R"/slurm/log/slurmd.log >&2
down
exit 1
