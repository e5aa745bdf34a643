"""Shared pieces of the benchmark scripts: a real host, raw wire connections,
percentiles, /proc readings and a description of the machine.

The host is started through tests/hive.py (the same HostProcess the tests use),
with an environment that carries no Anthropic credentials, so harnesses come up
in needs_login_idle and never take a message themselves.
"""

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))

import hive  # noqa: E402  (tests/hive.py: HostProcess, clean_env, wait_for)

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- numbers -------------------------------------------------------------------

def percentile(values, pct):
    """Nearest-rank percentile of a list of numbers."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(-(-pct * len(ordered) // 100)) - 1))
    return ordered[k]


def summary_ms(seconds):
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50": percentile(ms, 50), "p90": percentile(ms, 90),
            "p95": percentile(ms, 95), "p99": percentile(ms, 99), "max": max(ms) if ms else 0.0,
            "mean": sum(ms) / len(ms) if ms else 0.0}


def verdict(passed):
    return "PASS" if passed else "MISS"


# -- the host --------------------------------------------------------------------

def start_host(claude_bin="/bin/false", env=None, **kw):
    """A real `hyperhive.py host` (process backend) in a short /tmp dir."""
    env = dict(hive.clean_env() if env is None else env)
    # Logs go to the host's log file in its root dir, not to journald.
    env.setdefault("HYPERHIVE_LOG", "stderr")
    h = hive.HostProcess(claude_bin=claude_bin, env=env, **kw)
    h.start()
    return h


def stop_host(h, keep_dir=False):
    try:
        h.stop()
    finally:
        if not keep_dir:
            shutil.rmtree(h.root, ignore_errors=True)


def host_children(pid):
    """Pids of the host's direct children (its harnesses)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pid:
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:     # fields: state, ppid, pgrp, session, ...
            out.append(int(entry))
    return out


def start_hive(url=None, host_name=None, agents=("alice",)):
    """A host on its sqlite file (url None) or on the PostgreSQL database `url`, with
    `agents` spawned and idle (spawn_idle)."""
    args = [] if url is None else ["--broker", url, "--host-name", host_name or "pg"]
    h = start_host(args=args)
    try:
        for name in agents:
            spawn_idle(h, name)
    except BaseException:
        stop_host(h)
        raise
    return h


def agent_row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


def spawn_idle(h, name):
    """Spawn an agent whose harness waits for a login (no credentials), so it never takes
    a message itself: whatever reaches its inbox stays for the benchmark's client."""
    reply = h.admin("spawn", name=name)
    if not reply.get("ok"):
        raise RuntimeError(f"spawn {name}: {reply}")
    hive.wait_for(lambda: agent_row(h, name).get("needs_login"), 30,
                  what=f"{name}'s harness to wait for a login")


class Conn:
    """One persistent newline-JSON connection to a hyperhive unix socket."""

    def __init__(self, path, timeout=60):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = bytearray()

    def send(self, obj):
        self.sock.sendall((json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def read(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[:nl + 1]
                return json.loads(line)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf += chunk

    def call(self, cmd, **fields):
        self.send({"cmd": cmd, **fields})
        reply = self.read()
        if not reply.get("ok"):
            raise RuntimeError(f"{cmd} refused: {reply}")
        return reply

    def close(self):
        self.sock.close()


def round_trips(sender, to, inbox, n, warmup=0, pids=(), pg=None, wait=30, tag="m", park=0.002):
    """send -> the recipient's parked recv returns, n times after `warmup` untimed ones.

    `inbox` is the recipient's broker.sock, where `recv{wait_seconds, max:1}` is parked
    `park` seconds before the clock starts; `sender` a socket that takes `send{to,body}`
    (the admin socket, or another agent's). The clock stops when the recv's reply has
    arrived; the send's own reply is read after it. Each message delivered must be the
    one just sent. Returns the round trips and send replies in seconds and the CPU per
    timed round trip in ms: `pids`' own code (`user`) and kernel (`sys`) time, each
    pid's both (`each`), and a PgBroker's server processes (`pg`)."""
    samples, acks, pending = [], [], []
    for i in range(warmup + n):
        if i == warmup:
            cpu0 = [cpu_split(p) for p in pids], pg.cpu_ticks() if pg else 0
        inbox.send({"cmd": "recv", "wait_seconds": wait, "max": 1})
        time.sleep(park)
        t0 = time.perf_counter()
        sender.send({"cmd": "send", "to": to, "body": f"{tag}{i}"})
        got = inbox.read()
        t1 = time.perf_counter()
        sent = sender.read()
        t2 = time.perf_counter()
        msgs = got.get("messages") or []
        if not (got.get("ok") and sent.get("ok") and len(msgs) == 1
                and msgs[0]["id"] == sent["id"] and msgs[0]["body"] == f"{tag}{i}"):
            raise RuntimeError(f"round trip {i}: recv {got} for send {sent}")
        pending.append(sent["id"])
        if i >= warmup:
            samples.append(t1 - t0)
            acks.append(t2 - t0)
        if len(pending) >= 100:
            inbox.call("ack", ids=pending)
            pending = []
    splits = [cpu_split(p) for p in pids]
    per = 1000 / CLK_TCK / max(n, 1)
    cpu = {"user": per * sum(a[0] - b[0] for a, b in zip(splits, cpu0[0])),
           "sys": per * sum(a[1] - b[1] for a, b in zip(splits, cpu0[0])),
           "pg": per * (pg.cpu_ticks() - cpu0[1]) if pg else 0.0,
           "each": [per * (sum(a) - sum(b)) for a, b in zip(splits, cpu0[0])]}
    if pending:
        inbox.call("ack", ids=pending)
    return samples, acks, cpu


# -- /proc -----------------------------------------------------------------------

def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    return sum(cpu_split(pid))


def cpu_split(pid):
    """(utime, stime) of a process, in clock ticks: its own code, and the kernel's work
    for it (syscalls, the fsyncs among them)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def status_field(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return None


def rss_mb(pid):
    return int(status_field(pid, "VmRSS").split()[0]) / 1024


def threads(pid):
    return int(status_field(pid, "Threads"))


def _cpu_totals():
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]), idle


class LoadMeter:
    """Whole-machine CPU busy % between creation and busy_pct() (everything counts)."""

    def __init__(self):
        self.start = _cpu_totals()

    def busy_pct(self):
        total, idle = _cpu_totals()
        dt = total - self.start[0]
        return 100.0 * (dt - (idle - self.start[1])) / dt if dt else 0.0


def loadavg():
    return Path("/proc/loadavg").read_text().split()[0]


# -- PostgreSQL -------------------------------------------------------------------

class PgBroker:
    """The tests' throwaway PostgreSQL cluster (tests/pgcluster.py: unix socket in its
    own /tmp dir, fsync and synchronous_commit on), one database per hive in it."""

    def __init__(self):
        from pgcluster import PgCluster
        self.cluster = PgCluster()

    def start(self):
        self.cluster.start()
        return self

    def new_url(self):
        """A fresh database's postgresql:// URL, for `hyperhive host --broker`."""
        return self.cluster.url(self.cluster.create_database())

    def counters(self):
        """(transaction ids handed out, bytes of WAL written) so far in the cluster. Only a
        transaction that writes or NOTIFYs takes an id, so the first counts those exactly
        (a NOTIFY alone commits without waiting for a WAL flush); neither figure waits on
        the statistics collector."""
        [(xid, wal)] = self.query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,"
                                  " pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(xid), int(wal)

    def counted(self, fn, per):
        """fn()'s result, and the transactions that took an id (writes, NOTIFYs) and WAL
        bytes per `per` it cost."""
        c0 = self.counters()
        result = fn()
        c1 = self.counters()
        return result, {"write_tx": (c1[0] - c0[0]) / per, "wal_bytes": (c1[1] - c0[1]) / per}

    def cpu_ticks(self):
        """CPU of every server process (postmaster, backends, WAL writer, ...) so far;
        one that ended takes its ticks with it."""
        total = 0
        for pid in self.cluster.processes():
            try:
                total += cpu_ticks(pid)
            except OSError:
                pass
        return total

    def query(self, sql, dbname="postgres"):
        import psycopg2
        conn = psycopg2.connect(self.cluster.dsn(dbname))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def stop(self):
        self.cluster.stop()


# -- redis -----------------------------------------------------------------------

class RedisServer:
    """A private redis-server on a unix socket in a temp dir."""

    def __init__(self, durable=False):
        self.dir = Path(hive.short_tmpdir("hhredis"))
        self.sock = self.dir / "redis.sock"
        self.durable = durable
        self.proc = None

    def start(self):
        argv = ["redis-server", "--port", "0", "--unixsocket", str(self.sock),
                "--unixsocketperm", "700", "--dir", str(self.dir), "--save", "",
                "--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        if self.durable:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        hive.wait_for(lambda: self.sock.exists() or self.proc.poll() is not None, 10,
                      what="redis-server's socket")
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the machine -----------------------------------------------------------------

def machine():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")).split()[1])
    fs = "?"
    try:
        out = subprocess.run(["df", "-T", "/tmp"], capture_output=True, text=True).stdout
        dev, fstype = out.splitlines()[1].split()[:2]
        fs = f"{fstype} on {dev}"
    except (OSError, IndexError, ValueError):
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(), "tmp_fs": fs,
            "code": code_version()}


def code_version():
    """The commit measured, and whether hyperhive's code differs from it."""
    try:
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "hyperhive", "hyperhive.py"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{sha}{' + uncommitted changes' if dirty else ''}" if sha else "?"


def print_machine():
    m = machine()
    print(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, kernel {m['kernel']}, "
          f"Python {m['python']}, /tmp on {m['tmp_fs']}; code {m['code']}")


# -- profiling -----------------------------------------------------------------------

def py_spy(pid, out, rate=500, idle=True):
    """Start `py-spy record` on a process (collapsed stacks to `out`); None without py-spy.

    With idle=False only samples where the process is on a CPU are kept."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(exe):
        print("py-spy is not installed (pip install py-spy); no profile", file=sys.stderr)
        return None
    proc = subprocess.Popen([exe, "record", "-p", str(pid), "-o", str(out), "-f", "raw",
                             "-r", str(rate), *(["--idle"] if idle else ["--gil"])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return proc


def stop_py_spy(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def top_frames(collapsed, limit=25, leaf=False):
    """Self or inclusive sample counts per frame from a py-spy collapsed-stack file."""
    counts, total = {}, 0
    for line in Path(collapsed).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        n = int(n)
        total += n
        frames = stack.split(";")
        chosen = [frames[-1]] if leaf else set(frames)
        for f in chosen:
            counts[f] = counts.get(f, 0) + n
    return total, sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
