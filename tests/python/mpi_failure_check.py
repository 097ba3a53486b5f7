"""Under `mpiexec -n 3`, an exception nobody catches on one rank must end the whole job quickly with a non-zero
status and the traceback, not leave the other ranks waiting in their next computation.
Usage: mpi_failure_check.py PYTHON MPIEXEC NUMPROC_FLAG [MPIEXEC FLAGS...]"""
import os
import subprocess
import sys
import time

SCRIPT = """
import tessera as ts
x = ts.arange(10, chunks=3)
assert x.sum().compute() == 45
if ts.rank() == 1:
    raise RuntimeError("rank one gives up")
(x * 2).sum().compute()     # ranks 0 and 2 wait here for rank 1
print("UNREACHABLE", flush=True)
"""


def main():
    python, mpiexec, np_flag, *flags = sys.argv[1:]
    env = dict(os.environ, OMPI_MCA_mpi_yield_when_idle="1")
    t0 = time.monotonic()
    r = subprocess.run([mpiexec, np_flag, "3", *flags, python, "-c", SCRIPT], env=env, capture_output=True,
                       text=True, timeout=120)
    elapsed = time.monotonic() - t0
    out = r.stdout + r.stderr
    failures = []
    if r.returncode == 0:
        failures.append("the job exited with status 0")
    if "RuntimeError: rank one gives up" not in out or "tessera: rank 1: uncaught exception" not in out:
        failures.append("the traceback is missing")
    if "UNREACHABLE" in out:
        failures.append("a rank went on past the failure")
    if elapsed > 60:
        failures.append(f"the job took {elapsed:.0f} s to end")
    if failures:
        print("FAIL " + "; ".join(failures) + "\n" + out)
        return 1
    print(f"ok: status {r.returncode} after {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
