"""The live dashboard end to end through `tessera run JOB --dashboard HOST:PORT` (issue 21).

Usage: dashboard_e2e.py MODE TESSERA WORK_DIR [LAUNCHER...]

MODE http:    the printed URL and ssh line; 403 without the token, with a wrong one, 200 and the run's JSON with
              it; the numbers move while the run goes on; no socket at all without --dashboard; the port is free
              after the run ends and after a stop on SIGUSR1 (exit status 3, resumable).
MODE browser: headless Chromium opens the dashboard twice during a run of several seconds; the page draws
              (its verdict), shows more tasks done the second time, and logs no console errors. Screenshots and
              DOM dumps are kept in WORK_DIR (look1.png, look2.png, ...). With a LAUNCHER (mpiexec -n 3 ...),
              the same under MPI, served by rank 0, with one worker-table row per worker.
MODE tunnel:  the ssh line rank 0 prints, run against a real sshd on loopback (login and compute node at once),
              brings the page and its data through the tunnel (token still required), and Chromium draws the
              live run from there.

Every check prints OK or FAIL; the exit status is 1 when one failed. MODE browser prints SKIPPED LOUDLY and
exits 0 without Chromium."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

failures = []


def check(name, ok, detail=""):
    print(("OK   " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)), flush=True)
    if not ok:
        failures.append(name)
    return ok


# A job of several seconds on 2 threads with no input file: block products of a random matrix, reduced to a
# small output. N and the chunk are set from the environment for the benchmark and slow machines.
JOB = """
[arrays]
X = "random_normal([{n}, {n}], chunks=[{c}, {c}], seed=7)"
Y = "matmul(X, X)"

[outputs.m]
file = "m.h5"
expression = "Y.mean(axis=0)"
dims = ["col"]
"""


def write_job(work, n, c):
    path = os.path.join(work, "job.toml")
    with open(path, "w") as f:
        f.write(JOB.format(n=n, c=c))
    return path


class Run:
    """`tessera run` in the background; its stderr is read on a thread (the URL, progress lines)."""

    def __init__(self, launcher, tessera, job, work, extra, env=None):
        cmd = launcher + [tessera, "run", job, "--overwrite", "--threads", "2"] + extra
        self.proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.err_lines = []
        self.out = ""
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._o = threading.Thread(target=self._read_out, daemon=True)
        self._o.start()

    def _read(self):
        for line in self.proc.stderr:
            self.err_lines.append(line)

    def _read_out(self):
        self.out = self.proc.stdout.read()

    def url(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in list(self.err_lines):
                m = re.search(r"tessera: dashboard at (http://\S+)", line)
                if m:
                    return m.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return None

    def stderr(self):
        return "".join(self.err_lines)

    def wait(self, timeout=300):
        rc = self.proc.wait(timeout=timeout)
        self._t.join(5)
        self._o.join(5)
        return rc


def get(url, timeout=10):
    """(status, body) of a GET; status -1 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return -1, ""


def accepting(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def bindable(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def sockets_of(pid):
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            except OSError:
                pass
    except OSError:
        return None
    return n


def data_of(base, token):
    status, body = get(f"{base}/data?token={token}")
    if status != 200:
        return None
    d = json.loads(body)
    return d


def split_url(url):
    m = re.match(r"(http://[^/]+)/\?token=([0-9a-f]+)$", url)
    return (m.group(1), m.group(2)) if m else (None, None)


def wait_for_progress(base, token, at_least=1, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = data_of(base, token)
        if d and d.get("live") and d["live"]["done"] >= at_least:
            return d
        time.sleep(0.1)
    return None


def mode_http(tessera, work, launcher, n, c):
    job = write_job(work, n, c)
    run = Run(launcher, tessera, job, work, ["--dashboard", "127.0.0.1:0"])
    url = run.url()
    if not check("rank 0 prints the dashboard's URL", url is not None, run.stderr()):
        run.proc.kill()
        return
    base, token = split_url(url)
    check("the URL is on 127.0.0.1 with a 32-hex-digit token", base is not None and base.startswith(
        "http://127.0.0.1:") and len(token) == 32, url)
    port = int(base.rsplit(":", 1)[1])
    check("the ssh tunnel line is printed", re.search(
        rf"ssh -L {port}:127\.0\.0\.1:{port} -J \S+ \S+", run.stderr()) is not None, run.stderr())
    check("GET / without the token: 403", get(base + "/")[0] == 403)
    check("GET / with a wrong token: 403", get(base + "/?token=" + "0" * 32)[0] == 403)
    check("GET /data without the token: 403", get(base + "/data")[0] == 403)
    check("GET /data with a wrong token: 403", get(base + "/data?token=x")[0] == 403)
    status, page = get(url)
    check("GET / with the token: 200 and the page", status == 200 and 'id="data">null</script>' in page,
          status)
    first = wait_for_progress(base, token)
    check("GET /data with the token: the run's JSON", first is not None and first["live"]["total"] > 0,
          first)
    if first:
        check("the data names the executor and the worker table", first["config"]["executor"] in (
            "threads", "mpi") and len(first["workers"]) >= 1, first.get("workers"))
        time.sleep(1.5)
        second = data_of(base, token)
        check("the numbers move while the run goes on (tasks done, elapsed)",
              second is not None and (second["live"]["done"] > first["live"]["done"] or
                                      second["live"]["finished"]) and second["seconds"] > first["seconds"],
              (first["live"], second and second["live"]))
    pid = run.proc.pid
    check("the dashboard's process holds a socket", (sockets_of(pid) or 0) >= 1)
    rc = run.wait()
    check("the run succeeds", rc == 0, run.stderr()[-2000:])
    check("nothing listens on the port after the run", not accepting(port))
    check("the port can be bound again after the run", bindable(port))

    # No dashboard: no socket in the process at all.
    quiet = Run(launcher, tessera, job, work, [])
    time.sleep(1.0)
    socks = sockets_of(quiet.proc.pid)
    rc = quiet.wait()
    check("without --dashboard the run opens no socket", socks == 0 and rc == 0, (socks, rc))
    check("without --dashboard no URL is printed", "dashboard" not in quiet.stderr(), quiet.stderr())

    # SIGUSR1 mid-run (Slurm's warning before the time limit): a graceful stop, and the port is free.
    stopped = Run(launcher, tessera, job, work, ["--dashboard", "127.0.0.1:0"])
    url = stopped.url()
    base, token = split_url(url or "")
    if check("a second run prints its URL", url is not None, stopped.stderr()):
        port = int(base.rsplit(":", 1)[1])
        wait_for_progress(base, token)
        stopped.proc.send_signal(signal.SIGUSR1)
        rc = stopped.wait()
        check("SIGUSR1 stops the run (exit status 3, resumable)", rc == 3, (rc, stopped.stderr()[-1500:]))
        check("nothing listens on the port after SIGUSR1", not accepting(port))
        check("the port can be bound again after SIGUSR1", bindable(port))

    # A port in use: an error naming it, exit status 1, before any work.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    busy = holder.getsockname()[1]
    clash = Run(launcher, tessera, job, work, ["--dashboard", f"127.0.0.1:{busy}"])
    rc = clash.wait()
    holder.close()
    check("a port in use is an error naming it", rc == 1 and f"127.0.0.1:{busy}" in clash.stderr(),
          (rc, clash.stderr()))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_accepting(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if accepting(port):
            return True
        time.sleep(0.05)
    return False


def mode_tunnel(tessera, work, launcher, n, c):
    """The ssh line rank 0 prints, run as printed (only the local port changed: here the user's computer is the
    node itself) against a real sshd on loopback playing both login and compute node; the page and its data
    come through the tunnel, and the token is still needed there."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd) or not shutil.which("ssh"):
        check("sshd and ssh are installed (openssh-server; ./bootstrap installs it)", False)
        return
    d = os.path.join(work, "ssh")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d, mode=0o700)
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, key)], check=True)
    shutil.copy(os.path.join(d, "user_key.pub"), os.path.join(d, "authorized_keys"))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    ssh_port = free_port()
    with open(os.path.join(d, "sshd_config"), "w") as f:
        f.write(f"""Port {ssh_port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding yes
""")
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(d, "ssh_config"), "w") as f:
        f.write(f"""Host *
  Port {ssh_port}
  User {user}
  IdentityFile {d}/user_key
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  BatchMode yes
  LogLevel ERROR
""")
    daemon = subprocess.Popen([sshd, "-D", "-e", "-f", os.path.join(d, "sshd_config")], stderr=subprocess.PIPE,
                              text=True)
    tunnel = None
    run = None
    try:
        if not check("sshd listens on loopback", wait_accepting(ssh_port, daemon),
                     daemon.poll() is not None and daemon.stderr.read()):
            return
        job = write_job(work, n, c)
        # As under Slurm: the compute node's and the login node's names (both this machine here).
        env = dict(os.environ, SLURMD_NODENAME="localhost", SLURM_SUBMIT_HOST="localhost")
        run = Run(launcher, tessera, job, work, ["--dashboard", "0"], env=env)
        url = run.url()
        if not check("rank 0 prints the dashboard's URL", url is not None, run.stderr()):
            return
        base, token = split_url(url)
        port = int(base.rsplit(":", 1)[1])
        m = re.search(r"(ssh -L \S+ -J localhost localhost)", run.stderr())
        if not check("rank 0 prints the ssh line through the login node to the compute node", m is not None,
                     run.stderr()):
            return
        words = m.group(1).split()
        local = free_port()
        forward = words[2].split(":")
        check("the line forwards to the dashboard's port on the node's loopback",
              forward[1:] == ["127.0.0.1", str(port)], words)
        words[2] = ":".join([str(local)] + forward[1:])
        tunnel = subprocess.Popen([words[0], "-F", os.path.join(d, "ssh_config"), "-N"] + words[1:],
                                  stderr=subprocess.PIPE, text=True)
        if not check("the printed ssh command opens the tunnel", wait_accepting(local, tunnel),
                     tunnel.poll() is not None and tunnel.stderr.read()):
            return
        there = f"http://127.0.0.1:{local}"
        status, page = get(f"{there}/?token={token}")
        check("through the tunnel: the page", status == 200 and 'id="data">null</script>' in page, status)
        check("through the tunnel: 403 without the token", get(there + "/data")[0] == 403)
        first = wait_for_progress(there, token)
        check("through the tunnel: the run's live data", first is not None and first["live"]["total"] > 0,
              first)
        chromium = find_chromium()
        if check("Chromium is installed (./bootstrap installs it)", chromium is not None):
            r = browse(chromium, f"{there}/?token={token}", work, "tunnel", ["--dump-dom"])
            with open(os.path.join(work, "tunnel.html"), "w") as f:
                f.write(r.stdout)
            v = verdict(r.stdout)
            check("through the tunnel: Chromium draws the live run", v.get("data-status") == "ok" and
                  int(v.get("data-polls", "0")) >= 1 and int(v.get("data-done", "0")) > 0, v)
        rc = run.wait()
        run = None
        check("the run succeeds", rc == 0)
        check("nothing listens on the dashboard's port after the run", not accepting(port))
    finally:
        for p in (tunnel, daemon):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if run is not None:
            run.proc.kill()


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def browse(chromium, url, work, tag, extra):
    profile = os.path.join(work, f"profile-{tag}")
    shutil.rmtree(profile, ignore_errors=True)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--window-size=1400,2200",
           "--virtual-time-budget=2500"] + extra + [url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    shutil.rmtree(profile, ignore_errors=True)
    return r


def verdict(dom):
    m = re.search(r'<div id="verdict"([^>]*)>', dom)
    if not m:
        return {}
    return dict(re.findall(r'(data-[a-z]+)="([^"]*)"', m.group(1)))


def headline(dom):
    m = re.search(r'<div id="headline">([^<]*)</div>', dom)
    return m.group(1) if m else ""


def console_errors(err):
    return [line for line in err.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def mode_browser(tessera, work, launcher, n, c):
    chromium = find_chromium()
    if chromium is None:
        print("SKIPPED LOUDLY: chromium is not installed, so the dashboard was not opened in a browser "
              "(apt-get install chromium; ./bootstrap does)")
        return
    job = write_job(work, n, c)
    run = Run(launcher, tessera, job, work, ["--dashboard", "127.0.0.1:0"])
    url = run.url()
    if not check("rank 0 prints the dashboard's URL", url is not None, run.stderr()):
        run.proc.kill()
        return
    base, token = split_url(url)
    check("the run is under way before the first look", wait_for_progress(base, token) is not None)
    looks = []
    for k in (1, 2):
        if k == 2:
            time.sleep(1.0)
        r = browse(chromium, url, work, f"dom{k}", ["--dump-dom"])
        dom = r.stdout
        with open(os.path.join(work, f"look{k}.html"), "w") as f:
            f.write(dom)
        v = verdict(dom)
        looks.append((v, headline(dom)))
        print(f"look {k}: {headline(dom)!r} verdict {v}", flush=True)
        check(f"look {k}: Chromium exits cleanly", r.returncode == 0, r.stderr[-1500:])
        check(f"look {k}: no console errors", not console_errors(r.stderr), console_errors(r.stderr))
        check(f"look {k}: the page drew the live data", v.get("data-status") == "ok" and
              int(v.get("data-polls", "0")) >= 1, v)
        shot = os.path.join(work, f"look{k}.png")
        if os.path.exists(shot):
            os.remove(shot)
        r = browse(chromium, url, work, f"shot{k}", [f"--screenshot={shot}"])
        check(f"look {k}: a screenshot", r.returncode == 0 and os.path.exists(shot) and
              os.path.getsize(shot) > 20000, (r.returncode, r.stderr[-800:]))
    (v1, h1), (v2, h2) = looks
    done1, done2 = int(v1.get("data-done", "-1")), int(v2.get("data-done", "-1"))
    check("the second look shows more tasks done than the first", done2 > done1 >= 0, (done1, done2))
    check("the second look shows more time elapsed", float(v2.get("data-elapsed", "0")) > float(
        v1.get("data-elapsed", "0")), (v1, v2))
    check("the headline text changed between the looks", h1 != h2 and h1 != "", (h1, h2))
    dom2 = open(os.path.join(work, "look2.html")).read()
    rows = re.findall(r'<tr data-rank="(\d+)" data-done="(\d+)"', dom2)
    if launcher:
        check("under MPI the worker table has a row per worker rank (ranks 1 and 2)",
              sorted(int(r) for r, _ in rows) == [1, 2], rows)
        host = socket.gethostname()
        check("under MPI the worker table names each worker's host", len(re.findall(
            r'<tr data-rank="\d+" data-done="\d+"><td class="n">\d+</td><td>' + re.escape(host), dom2)) == 2,
            host)
    else:
        check("the worker table has the thread pool's row", len(rows) == 1, rows)
    rc = run.wait()
    check("the run succeeds", rc == 0, run.stderr()[-2000:])
    port = int(base.rsplit(":", 1)[1])
    check("nothing listens on the port after the run", not accepting(port))


def main():
    mode, tessera, work = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    launcher = [a for a in sys.argv[4:] if a]
    # The browser looks twice, a Chromium start each (2-4 s here): the run must outlast both (under mpiexec
    # n = 4000 finished in 4 s, before the second look).
    n = int(os.environ.get("DASHBOARD_TEST_N", "6000" if mode == "browser" else "4000"))
    c = int(os.environ.get("DASHBOARD_TEST_CHUNK", "250"))
    os.makedirs(work, exist_ok=True)
    for f in os.listdir(work):
        if f.endswith((".h5", ".toml")) or f.startswith("profile-"):
            p = os.path.join(work, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    if mode == "http":
        mode_http(tessera, work, launcher, n, c)
    elif mode == "browser":
        mode_browser(tessera, work, launcher, n, c)
    elif mode == "tunnel":
        mode_tunnel(tessera, work, launcher, n, c)
    else:
        sys.exit(f"unknown mode {mode}")
    print(f"{len(failures)} failed" if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
