"""tessera on a real Slurm (started by the CTest fixture with tests/slurm/slurm.sh) and under mpirun:

  submit   a script from `tessera slurm` runs a 3-rank job (oversubscribed) with sbatch; its output is
           byte-identical to a local run's
  signal   the job is signalled mid-run (scancel --signal=USR1 --batch: what --signal=B:USR1@lead does before the
           time limit), exits with status 3 (incomplete, resumable), and the resubmitted script completes
           with --resume: byte-identical output
  kill     a worker rank SIGKILLed under mpirun ends the job, leaves a journal, and `tessera run --resume`
           completes: byte-identical output

Usage: slurm_e2e.py TESSERA MAKE_CLIMATE WORKDIR SLURM_CONF CASE [MPIEXEC ARGS...]
Prints "OK name" / "FAIL name: why"; exits 77 (skipped) when the test Slurm is not up."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

TESSERA, MAKE_CLIMATE, WORK, SLURM_CONF, CASE = sys.argv[1:6]
MPIEXEC = sys.argv[6:]
ENV = dict(os.environ, SLURM_CONF=SLURM_CONF, OMPI_MCA_mpi_yield_when_idle="1")
# Big enough to be stopped mid-run on 2 cores (about 100 output chunks, compressed), with no input file.
BIG_JOB = """[arrays]
x = 'random_normal([1500, 200, 200], chunks=[15, 200, 200], dtype="float32", seed=1)'
anom = "(x - mean(x, axis=0)) / std(x, axis=0)"

[outputs.anom]
file = "anom.nc"
compression = 1
"""
JOB = """[inputs.t]
file = "climate.nc"
variable = "t2m"

[arrays]
anom = "(t - mean(t, axis=0)) / std(t, axis=0)"

[outputs.anom]
file = "anom.nc"
compression = 9
"""


def fail(why):
    print(f"FAIL {CASE}: {why}", flush=True)
    sys.exit(1)


def run(cmd, cwd=None, check=True, **kw):
    p = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def job_dir(name, days=None):
    """A folder holding job.toml: the climate anomaly over a `days`-long input, or BIG_JOB when days is None."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    if days is not None:
        shared = os.path.join(WORK, f"climate-{days}.nc")
        if not os.path.exists(shared):
            run([sys.executable, MAKE_CLIMATE, shared, "noleap", str(days)])
        os.link(shared, os.path.join(d, "climate.nc"))
    with open(os.path.join(d, "job.toml"), "w") as f:
        f.write(JOB if days is not None else BIG_JOB)
    return d


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def journal_has_records(d):
    return any(os.path.getsize(j) >= 48 for j in glob.glob(os.path.join(d, ".anom.nc.tessera", "journal-*")))


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    fail(f"timed out waiting for {what}")


def reference(days=None):
    d = job_dir(f"local-{days or 'big'}", days)
    run([TESSERA, "run", "job.toml", "-q"], cwd=d)
    return os.path.join(d, "anom.nc")


def script(d, *extra):
    p = run([TESSERA, "slurm", "job.toml", "--nodes", "1", "--workers-per-node", "2", "--overcommit", "--time",
             "10", "--stop-lead", "60", "--output", os.path.join(d, "slurm-%j.out"), *extra], cwd=d)
    path = os.path.join(d, "job.sbatch")
    with open(path, "w") as f:
        f.write(p.stdout)
    return path


def sbatch_wait(d, path):
    p = run(["sbatch", "--wait", "--parsable", path], cwd=d, check=False, timeout=600)
    logs = "".join(open(f).read() for f in sorted(glob.glob(os.path.join(d, "slurm-*.out"))))
    return p.returncode, logs


def main():
    if CASE != "kill" and run(["sinfo", "-h", "-o", "%t"], check=False).stdout.strip() != "idle":
        print(f"SKIPPED {CASE}: the test Slurm is not up (see the slurm.up fixture's output)", flush=True)
        sys.exit(77)
    if CASE == "submit":
        want = reference(365)
        d = job_dir("submit", 365)
        status, logs = sbatch_wait(d, script(d))
        if status != 0:
            fail(f"sbatch --wait: status {status}\n{logs}")
        if "3 ranks" not in logs and "2 worker ranks" not in logs:
            fail(f"the job did not run on 3 ranks:\n{logs}")
        if not same_bytes(want, os.path.join(d, "anom.nc")):
            fail("the Slurm job's output differs from the local run's")
    elif CASE == "signal":
        want = reference()
        d = job_dir("signal")
        path = script(d, "--no-requeue")
        job = run(["sbatch", "--parsable", path], cwd=d).stdout.strip().split(";")[0]
        wait_for(lambda: journal_has_records(d), 300, "the first journalled chunk")
        run(["scancel", "--signal=USR1", "--batch", job])
        wait_for(lambda: run(["squeue", "-h", "-j", job], check=False).stdout.strip() == "", 300, "the job to end")
        logs = "".join(open(f).read() for f in glob.glob(os.path.join(d, "slurm-*.out")))
        if "exit status 3: incomplete, resumable" not in logs:
            fail(f"the signalled job did not stop as resumable:\n{logs}")
        if os.path.exists(os.path.join(d, "anom.nc")):
            fail("a stopped job left a file under the final name")
        status, logs = sbatch_wait(d, path)
        if status != 0:
            fail(f"resubmitted job: status {status}\n{logs}")
        if "resumed from the journal" not in logs:
            fail(f"the resubmitted job did not resume:\n{logs}")
        if not same_bytes(want, os.path.join(d, "anom.nc")):
            fail("the resumed output differs from an uninterrupted run's")
    elif CASE == "kill":
        want = reference()
        d = job_dir("kill")
        p = subprocess.Popen([*MPIEXEC, TESSERA, "run", "job.toml"], cwd=d, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        wait_for(lambda: journal_has_records(d), 300, "the first journalled chunk")
        victim = None
        for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
            try:
                env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if TESSERA.encode() in cmd and b"OMPI_COMM_WORLD_RANK=2" in env and f"PWD={d}".encode() in env:
                victim = pid
        if victim is None:
            p.kill()
            fail("could not find worker rank 2")
        os.kill(victim, signal.SIGKILL)
        out, _ = p.communicate(timeout=120)
        if p.returncode == 0:
            fail(f"mpirun exited 0 although a worker was killed:\n{out}")
        if os.path.exists(os.path.join(d, "anom.nc")):
            fail("a killed job left a file under the final name")
        if not journal_has_records(d):
            fail("the killed job left no journal")
        r = run([TESSERA, "run", "job.toml", "--resume"], cwd=d)
        if "resumed from the journal" not in r.stdout:
            fail(f"--resume did not resume:\n{r.stdout}")
        if not same_bytes(want, os.path.join(d, "anom.nc")):
            fail("the resumed output differs from an uninterrupted run's")
    else:
        fail(f"unknown case {CASE}")
    print(f"OK {CASE}", flush=True)


if __name__ == "__main__":
    main()
