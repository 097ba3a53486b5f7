"""tessera on the test Slurm (tests/slurm/slurm.sh: a real Slurm whose nodes are network namespaces; partition ci
has 2 nodes of this machine's shape, wide, numa and smt one node each that declares a bigger shape) and under
mpirun. Started by CTest, one case per entry:

  layouts  every documented layout of `tessera slurm` on every node shape: the shape comes from sinfo; Slurm
           accepts the script (sbatch --test-only) and gives it every CPU of the nodes. Requests that cannot
           fit are refused before anything is submitted, naming the node, and Slurm refuses them as well (the
           same request written for a made-up node where tessera thinks it fits). Every layout (but the one
           sharing nodes) really runs: each worker gets the promised CPUs as threads on cores of its own, the
           workers spread over the NUMA domains (--show-binding; on the declared shapes hwloc is given the
           declared node, HWLOC_SYNTHETIC, since this machine is smaller), and the output is byte-identical to a
           local run.
  nodes2   a job across the 2 nodes (srun --mpi=pmix between the namespaces): workers on both nodes, chunks
           crossing between them; SIGUSR1 to the batch script mid-run (what --signal=B:USR1@LEAD makes Slurm
           send before the time limit) stops it, it requeues itself and resumes on both nodes; the outputs are
           byte-identical to a local run.
  array    a job array of 2 tasks, ${SLURM_ARRAY_TASK_ID} in an input file name, output file names and a seed:
           one task is stopped and resumes on its own while the other finishes; each output equals a local run
           of that task. A job array whose tasks would write the same file, and a job using the variable
           outside an array, are refused.
  kill     a worker rank SIGKILLed under mpirun ends the job, leaves a journal, and `tessera run --resume`
           completes it: byte-identical output.
  examples slurm/examples/*.sbatch are what `tessera slurm` writes today; without a Slurm to ask it writes for
           this machine and says so; bad --node-shape and --array values are named (no Slurm needed).

Usage: slurm_e2e.py TESSERA MAKE_CLIMATE WORKDIR SLURM_SH STATE CASE [MPIEXEC ARGS...]
Prints "OK case" / "FAIL case: why"; exits 77 (skipped) when the test Slurm is not up."""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

TESSERA, MAKE_CLIMATE, WORK, SLURM_SH, STATE, CASE = sys.argv[1:7]
MPIEXEC = sys.argv[7:]
ENV = dict(os.environ, OMPI_MCA_mpi_yield_when_idle="1")
ENV.pop("SLURM_ARRAY_TASK_ID", None)
CPUS = len(os.sched_getaffinity(0))  # the ci nodes' CPUs (slurm.sh declares this machine's)

# A job whose chunks are written as they are computed (resumable part way) and one reduction across all of
# them (chunks cross between workers). SIZE frames of 200 x 200.
STREAMING_JOB = """[arrays]
x = 'random_normal([{frames}, 200, 200], chunks=[15, 200, 200], dtype="float32", seed={seed})'
y = "abs(x) ** 0.5"

[outputs.y]
file = "{y}"
compression = 6

[outputs.clim]
file = "{clim}"
expression = "mean(x, axis=0)"
"""
SMALL_JOB = """[arrays]
x = 'random_normal([40, 100, 100], chunks=[4, 100, 100], dtype="float32", seed=5)'
anom = "(x - mean(x, axis=0)) / std(x, axis=0)"

[outputs.anom]
file = "anom.nc"
"""


def fail(why):
    print(f"FAIL {CASE}: {why}", flush=True)
    sys.exit(1)


def run(cmd, cwd=None, check=True, env=None, **kw):
    p = subprocess.run(cmd, cwd=cwd, env=env or ENV, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def on_login(cmd, cwd=None, check=True, env=None):
    """A command on the test cluster's login node (its head namespace, where sinfo and sbatch reach Slurm)."""
    return run([SLURM_SH, "exec", STATE, *cmd], cwd=cwd, check=check, env=env)


def job_dir(name, text):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "job.toml"), "w") as f:
        f.write(text)
    return d


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def journalled(d, output):
    return any(os.path.getsize(j) >= 48 for j in glob.glob(os.path.join(d, f".{output}.tessera", "journal-*")))


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    fail(f"timed out waiting for {what}")


def logs(d):
    return "".join(open(f).read() for f in sorted(glob.glob(os.path.join(d, "slurm-*.out"))))


def script(d, *options, env=None):
    """`tessera slurm job.toml OPTIONS` on the login node: (script path, what it said on stderr)."""
    p = on_login([TESSERA, "slurm", "job.toml", *options], cwd=d, env=env)
    path = os.path.join(d, "job.sbatch")
    with open(path, "w") as f:
        f.write(p.stdout)
    return path, p.stderr


def submit(d, path, env=None):
    return on_login(["sbatch", "--parsable", path], cwd=d, env=env).stdout.strip().split(";")[0]


def gone(job):
    return on_login(["squeue", "-h", "-j", job], check=False).stdout.strip() == ""


def job_field(job, field):
    out = on_login(["scontrol", "show", "job", job]).stdout
    m = re.search(rf"\b{field}=(\S+)", out)
    return m.group(1) if m else None


BINDING = re.compile(r"tessera: rank (\d+): node of rank (\d+), worker (\d+)/(\d+): NUMA ([\d,-]+), cores ([\d,-]+)"
                     r" \((\d+)\)(?: \(binding refused\))?, (\d+) threads")


def ranges(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def check_binding(log, workers, cpus, threads_per_core, what):
    """Every worker got `cpus` threads on cpus / threads_per_core cores of its own, NUMA domains of its own."""
    found = BINDING.findall(log)
    if len(found) != workers or "binding refused" in log:
        fail(f"{what}: expected {workers} workers, each bound, in --show-binding:\n{log}")
    cores = set()
    for rank, node, index, per_node, numa, core_list, ncores, threads in found:
        if int(threads) != cpus or int(ncores) != cpus // threads_per_core:
            fail(f"{what}: rank {rank} has {threads} threads on {ncores} cores, not {cpus} CPUs:\n{log}")
        mine = {(node, c) for c in ranges(core_list)}
        if mine & cores:
            fail(f"{what}: rank {rank}'s cores {core_list} overlap another worker's:\n{log}")
        cores |= mine
    return found


# Layouts of docs/slurm.md: (partition, options, workers per node, CPUs per worker, CPUs Slurm gives the job).
LAYOUTS = [
    ("wide", [], 2, 32, 64),
    ("wide", ["--workers-per-node", "4", "--cpus-per-worker", "16", "--mem", "250G"], 4, 16, 64),
    ("wide", ["--workers-per-node", "1", "--cpus-per-worker", "64"], 1, 64, 64),
    ("wide", ["--workers-per-node", "1", "--cpus-per-worker", "16", "--no-exclusive"], 1, 16, 16),
    ("numa", [], 4, 16, 64),
    ("numa", ["--workers-per-node", "2"], 2, 32, 64),
    ("smt", [], 1, 128, 128),
    ("smt", ["--workers-per-node", "2"], 2, 64, 128),
    ("ci", [], 1, CPUS, CPUS),
    ("ci", ["--workers-per-node", str(CPUS)], CPUS, 1, CPUS),
    ("ci", ["--nodes", "2"], 1, CPUS, 2 * CPUS),
]
# Requests that cannot fit: (partition, options, tessera's message, a made-up node on which tessera writes the
# same request, for Slurm to judge).
REFUSED = [
    ("wide", ["--workers-per-node", "3", "--cpus-per-worker", "32"],
     "3 workers x 32 CPUs = 96 CPUs per node do not fit: a node has 64 CPUs (2 sockets x 32 cores = 64 CPUs, "
     "256000 MiB; sinfo, partition wide)", "sockets=3,cores=32"),
    ("wide", ["--mem", "300GB"], "--mem 300GB (286102 MiB) per node does not fit: a node has 256000 MiB (2 sockets"
     " x 32 cores", "sockets=2,cores=32,mem=1TB"),
    ("smt", ["--workers-per-node", "3", "--cpus-per-worker", "43"],
     "3 workers x 43 CPUs = 129 CPUs per node do not fit: a node has 128 CPUs (1 socket x 64 cores x 2 threads",
     "sockets=1,cores=65,threads=2"),
    ("ci", ["--nodes", "3"], "--nodes 3: the partition has 2 nodes", f"sockets=1,cores={CPUS}"),
]
# What hwloc is told the declared nodes look like (Slurm's sockets are NUMA domains on numa1, as a site with
# 2 sockets of 2 NUMA domains each would declare them).
SYNTHETIC = {"wide": "pack:2 numa:1 core:32 pu:1", "numa": "pack:2 numa:2 core:16 pu:1", "smt": "pack:1 core:64 pu:2"}
THREADS_PER_CORE = {"smt": 2}
NUMA_DOMAINS = {"wide": 2, "numa": 4, "smt": 1}


def layouts():
    d = job_dir("layouts", SMALL_JOB)
    for partition, options, workers, cpus, held in LAYOUTS:
        what = f"tessera slurm -p {partition} {' '.join(options)}"
        path, said = script(d, "-p", partition, *options)
        if f"sinfo, partition {partition}" not in said:
            fail(f"{what}: the node shape did not come from sinfo:\n{said}")
        text = open(path).read()
        for line in (f"#SBATCH --ntasks-per-node={workers} ", f"#SBATCH --cpus-per-task={cpus} "):
            if line not in text:
                fail(f"{what}: no '{line}' in the script:\n{text}")
        p = on_login(["sbatch", "--test-only", path], cwd=d, check=False)
        if f"using {held} processors" not in p.stderr:
            fail(f"{what}: sbatch --test-only did not accept it with {held} CPUs:\n{p.stderr}{text}")
    p = on_login([TESSERA, "slurm", "job.toml", "-p", "nope"], cwd=d, check=False)
    if p.returncode != 1 or 'Slurm has no partition "nope" (partitions: ci, wide, numa, smt)' not in p.stderr:
        fail(f"an unknown partition: {p.returncode}\n{p.stderr}")
    for partition, options, message, made_up in REFUSED:
        what = f"tessera slurm -p {partition} {' '.join(options)}"
        p = on_login([TESSERA, "slurm", "job.toml", "-p", partition, *options], cwd=d, check=False)
        if p.returncode != 2 or message not in p.stderr or p.stdout:
            fail(f"{what}: expected exit 2 and '{message}', got {p.returncode}:\n{p.stdout}{p.stderr}")
        path, _ = script(d, "-p", partition, *options, "--node-shape", made_up)
        p = on_login(["sbatch", "--test-only", path], cwd=d, check=False)
        if p.returncode == 0 or "to start at" in p.stderr:
            fail(f"{what}: Slurm accepted what tessera refuses:\n{p.stderr}")

    # Every layout really runs (on the declared nodes one after the other). Not --no-exclusive: there the job's
    # share of the node is what a cgroup would confine it to, and this Slurm has none.
    want = os.path.join(job_dir("layouts-local", SMALL_JOB), "anom.nc")
    run([TESSERA, "run", "job.toml", "-q"], cwd=os.path.dirname(want))
    runs = []
    for i, (partition, options, workers, cpus, _) in enumerate(LAYOUTS):
        if "--no-exclusive" in options:
            continue
        d = job_dir(f"layouts-{i}-{partition}", SMALL_JOB)
        env = dict(ENV)
        if partition in SYNTHETIC:
            env["HWLOC_SYNTHETIC"] = SYNTHETIC[partition]
        path, _ = script(d, "-p", partition, *options, "--output", os.path.join(d, "slurm-%j.out"), "--",
                         "--show-binding")
        runs.append((d, partition, options, workers, cpus, submit(d, path, env=env)))
    for d, partition, options, workers, cpus, job in runs:
        wait_for(lambda: gone(job), 300, f"job {job} on {partition}")
    for d, partition, options, workers, cpus, job in runs:
        log = logs(d)
        what = f"the job {job} (-p {partition} {' '.join(options)})"
        if job_field(job, "JobState") != "COMPLETED":
            fail(f"{what} did not complete:\n{log}")
        nodes = int(options[options.index("--nodes") + 1]) if "--nodes" in options else 1
        found = check_binding(log, workers * nodes, cpus, THREADS_PER_CORE.get(partition, 1), what)
        numa = [f[4] for f in found]
        if partition in SYNTHETIC and len(set(numa)) != min(workers, NUMA_DOMAINS[partition]):
            fail(f"{what}: the workers do not spread over the node's NUMA domains: {numa}:\n{log}")
        if not same_bytes(want, os.path.join(d, "anom.nc")):
            fail(f"{what}: the output differs from the local run's")


def nodes2():
    text = STREAMING_JOB.format(frames=1500, seed=1, y="y.nc", clim="clim.nc")
    local = job_dir("nodes2-local", text)
    run([TESSERA, "run", "job.toml", "-q"], cwd=local)
    d = job_dir("nodes2", text)
    path, said = script(d, "--nodes", "2", "--time", "10", "--stop-lead", "60", "--output",
                        os.path.join(d, "slurm-%j.out"), "--", "--show-binding")
    if f"layout: 2 nodes x 1 worker x {CPUS} CPU" not in said:
        fail(f"unexpected layout:\n{said}")
    job = submit(d, path)
    wait_for(lambda: journalled(d, "y.nc"), 300, "the first journalled chunk")
    on_login(["scancel", "--signal=USR1", "--batch", job])
    wait_for(lambda: gone(job), 300, f"job {job} to end")
    log = logs(d)
    for line in ["tessera slurm: time limit near, stopping", "exit status 3: incomplete, resumable",
                 f"tessera slurm: stopped before the end; requeueing job {job}", "resumed from the journal",
                 "data plane: rma within nodes, two-sided between nodes"]:
        if line not in log:
            fail(f"no '{line}' in the job's log:\n{log}")
    if job_field(job, "JobState") != "COMPLETED" or job_field(job, "Restarts") != "1":
        fail(f"job {job}: {job_field(job, 'JobState')} after {job_field(job, 'Restarts')} restarts:\n{log}")
    # Both runs (first and requeued) put one worker on each node: the node of rank 0 and another.
    found = check_binding(log[log.rfind("rank 0 schedules"):], 2, CPUS, 1, f"job {job}")
    if sorted(f[1] for f in found) != ["0", "1"]:
        fail(f"job {job}: the workers are not on both nodes:\n{log}")
    for f in ["y.nc", "clim.nc"]:
        if not same_bytes(os.path.join(local, f), os.path.join(d, f)):
            fail(f"{f} written across 2 nodes (stopped and resumed) differs from the local run's")


def array():
    text = """[inputs.t]
file = "member_${SLURM_ARRAY_TASK_ID}.nc"
variable = "t2m"

[arrays]
anom = "(t - mean(t, axis=0)) / std(t, axis=0)"
""" + STREAMING_JOB.split("\n", 1)[1].format(frames=600, seed="${SLURM_ARRAY_TASK_ID}",
                                             y="y_${SLURM_ARRAY_TASK_ID}.nc", clim="clim_${SLURM_ARRAY_TASK_ID}.nc") + """
[outputs.anom]
file = "anom_${SLURM_ARRAY_TASK_ID}.nc"
"""
    d = job_dir("array", text)
    local = job_dir("array-local", text)
    for task, days in [(0, 365), (1, 400)]:
        for where in (d, local):
            run([sys.executable, MAKE_CLIMATE, os.path.join(where, f"member_{task}.nc"), "noleap", str(days)])
        run([TESSERA, "run", "job.toml", "-q"], cwd=local, env=dict(ENV, SLURM_ARRAY_TASK_ID=str(task)))

    # Refused before anything is submitted.
    p = on_login([TESSERA, "slurm", "job.toml"], cwd=d, check=False)
    if p.returncode != 2 or "${SLURM_ARRAY_TASK_ID} is not set" not in p.stderr:
        fail(f"a job using ${{SLURM_ARRAY_TASK_ID}} was accepted without --array:\n{p.stderr}")
    same = job_dir("array-same", SMALL_JOB)
    p = on_login([TESSERA, "slurm", "job.toml", "--array", "2"], cwd=same, check=False)
    if p.returncode != 2 or ("every task would write anom.nc (output 'anom'): put ${SLURM_ARRAY_TASK_ID} in its "
                             "file name, e.g. file = \"anom_${SLURM_ARRAY_TASK_ID}.nc\"") not in p.stderr:
        fail(f"an array whose tasks write the same file was accepted:\n{p.stderr}")

    path, _ = script(d, "--array", "2", "--time", "10", "--stop-lead", "60", "--output",
                     os.path.join(d, "slurm-%A_%a.out"))
    if "#SBATCH --array=0-1 " not in open(path).read():
        fail("no --array=0-1 in the script")
    job = submit(d, path)
    wait_for(lambda: journalled(d, "y_1.nc"), 300, "task 1's first journalled chunk")
    on_login(["scancel", "--signal=USR1", "--batch", f"{job}_1"])
    wait_for(lambda: gone(job), 300, f"job array {job} to end")
    first, second = (open(os.path.join(d, f"slurm-{job}_{t}.out")).read() for t in (0, 1))
    if "stopping" in first or "resumed from the journal" in first:
        fail(f"task 0 was stopped too:\n{first}")
    for line in ["time limit near, stopping", f"requeueing job {job}_1", "resumed from the journal"]:
        if line not in second:
            fail(f"no '{line}' in task 1's log:\n{second}")
    for task in (0, 1):
        for f in [f"anom_{task}.nc", f"y_{task}.nc", f"clim_{task}.nc"]:
            if not same_bytes(os.path.join(local, f), os.path.join(d, f)):
                fail(f"{f} from array task {task} differs from a local run of that task")


def kill():
    text = STREAMING_JOB.format(frames=1500, seed=1, y="y.nc", clim="clim.nc")
    local = job_dir("kill-local", text)
    run([TESSERA, "run", "job.toml", "-q"], cwd=local)
    d = job_dir("kill", text)
    env = dict(ENV, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.Popen([*MPIEXEC, TESSERA, "run", "job.toml"], cwd=d, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: journalled(d, "y.nc"), 300, "the first journalled chunk")
    victim = None
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if TESSERA.encode() in cmd and b"OMPI_COMM_WORLD_RANK=2" in environ and f"PWD={d}".encode() in environ:
            victim = pid
    if victim is None:
        p.kill()
        fail("could not find worker rank 2")
    os.kill(victim, signal.SIGKILL)
    out, _ = p.communicate(timeout=120)
    if p.returncode == 0:
        fail(f"mpirun exited 0 although a worker was killed:\n{out}")
    if os.path.exists(os.path.join(d, "y.nc")):
        fail("a killed job left a file under the final name")
    if not journalled(d, "y.nc"):
        fail("the killed job left no journal")
    r = run([TESSERA, "run", "job.toml", "--resume"], cwd=d)
    if "resumed from the journal" not in r.stdout:
        fail(f"--resume did not resume:\n{r.stdout}")
    for f in ["y.nc", "clim.nc"]:
        if not same_bytes(os.path.join(local, f), os.path.join(d, f)):
            fail(f"{f} resumed after the kill differs from an uninterrupted run's")


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# slurm/examples: (script, job file, options). The node shapes are given (--node-shape): 2 x 32-core nodes.
EXAMPLES = [
    ("single_node.sbatch", "jobs/examples/standardized_anomaly.toml", ["--node-shape", "sockets=2,cores=32,mem=250GiB"]),
    ("many_nodes.sbatch", "jobs/examples/monthly_climatology.toml",
     ["--nodes", "8", "--node-shape", "sockets=2,cores=32,mem=250GiB", "--time", "12:00:00", "--partition", "compute",
      "--account", "myproject", "--mem", "240GiB", "--stop-lead", "900"]),
    ("numa_domains.sbatch", "jobs/examples/rolling_mean.toml",
     ["--nodes", "4", "--node-shape", "sockets=2,cores=32,numa=8,mem=500GiB", "--time", "1-00:00:00",
      "--stop-lead", "1800"]),
    ("array_years.sbatch", "slurm/examples/yearly_anomaly.toml",
     ["--array", "1981-2010%10", "--node-shape", "sockets=2,cores=32,mem=250GiB", "--time", "02:00:00"]),
]


def examples(regenerate=False):
    for name, job, options in EXAMPLES:
        p = run([TESSERA, "slurm", os.path.basename(job), *options], cwd=os.path.join(ROOT, os.path.dirname(job)))
        text = p.stdout.replace(f"'{os.path.realpath(TESSERA)}'", "'tessera'").replace(ROOT, "/home/me/tessera")
        path = os.path.join(ROOT, "slurm", "examples", name)
        if regenerate:
            with open(path, "w") as f:
                f.write(text)
        elif open(path).read() != text:
            fail(f"{path} is not what `tessera slurm {os.path.basename(job)} {' '.join(options)}` writes now "
                 f"(run: slurm_e2e.py ... regenerate-examples):\n{text}")
    if regenerate:
        return
    d = job_dir("cli", SMALL_JOB)
    p = run([TESSERA, "slurm", "job.toml"], cwd=d, env=dict(ENV, PATH="/nonexistent"))
    for said in ["warning: Slurm cannot be asked for the nodes' shape (sinfo is not on PATH); writing for this "
                 "machine's. Give --node-shape", "nodes: ", "; this machine (hwloc)"]:
        if said not in p.stderr:
            fail(f"without sinfo, no '{said}' in:\n{p.stderr}")
    if f"#SBATCH --cpus-per-task={CPUS} " not in p.stdout:
        fail(f"without sinfo, the script is not for this machine's {CPUS} CPUs:\n{p.stdout}")
    p = run([TESSERA, "slurm", "job.toml"], cwd=d, env=dict(ENV, SLURM_CONF=os.path.join(d, "no-slurm.conf")))
    if f"(SLURM_CONF={d}/no-slurm.conf does not exist); writing for this machine's" not in p.stderr:
        fail(f"a missing SLURM_CONF is not named:\n{p.stderr}")
    for options, message in [(["--node-shape", "sockets=2"], "--node-shape \"sockets=2\": sockets and cores are "
                                                                   "required"),
                             (["--node-shape", "sockets=1,cores=4", "--array", "9-3"],
                              "--array \"9-3\": the range \"9-3\" ends before it starts"),
                             (["--node-shape", "sockets=1,cores=4", "--cpus-per-worker", "8"],
                              "1 worker x 8 CPUs = 8 CPUs per node do not fit: a node has 4 CPUs (1 socket x 4 "
                              "cores = 4 CPUs; --node-shape)")]:
        p = run([TESSERA, "slurm", "job.toml", *options], cwd=d, check=False)
        if p.returncode != 2 or f"tessera: error: {message}" not in p.stderr or p.stdout:
            fail(f"tessera slurm {' '.join(options)}: expected exit 2 and '{message}':\n{p.stderr}")


def main():
    if CASE == "regenerate-examples":
        examples(regenerate=True)
        return
    if CASE not in ("kill", "examples") and on_login(["sinfo", "-h", "-o", "%t"], check=False).returncode != 0:
        print(f"SKIPPED {CASE}: the test Slurm is not up (see the slurm.up fixture's output)", flush=True)
        sys.exit(77)
    cases = {"layouts": layouts, "nodes2": nodes2, "array": array, "kill": kill, "examples": examples}
    if CASE not in cases:
        fail(f"unknown case {CASE}")
    started = time.time()
    cases[CASE]()
    print(f"OK {CASE} ({time.time() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
