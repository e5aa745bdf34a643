"""Ten agents take one job each at the same moment: wall time and peak memory.

A real host (process backend) with ten agents on the real claude CLI, talking to
tests/anthropic_stub.py on 127.0.0.1 (each prompt answered with a short text). Once
every agent is idle (and the manager has read the ten `spawned` messages), the
operator sends each agent one message at once; the job is done when every agent has
written the turn's stats row. While the jobs run, a sampler sums the RSS of the
host's whole process tree every 20 ms (host, harnesses, claude, what claude starts,
the warm MCP servers) and, apart, of the `hyperhive mcp` processes.

With `--before TREE` the same is run first on another checkout (a `git worktree` of
an older commit, say the one before the MCP relay: `git worktree add /tmp/before
f3ba5d2`), then on this one, so both columns come from one run.

Run: .venv/bin/python bench/ten_agents.py [--before TREE] [--agents 10] [--rounds 1]
"""

import argparse
import os
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path

import benchlib as B
from anthropic_stub import Stub, claude_env, find_claude

sys.path.insert(0, str(B.REPO))
from hyperhive.lifecycle import fnv1a32


def job_names(count):
    """job01, job02, ... skipping a name whose page port an earlier one has."""
    names, slots, i = [], set(), 0
    while len(names) < count:
        i += 1
        name = f"job{i:02d}"
        if fnv1a32(name) % 900 not in slots:
            slots.add(fnv1a32(name) % 900)
            names.append(name)
    return names


def tree_of(pid):
    """pid and every process below it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def is_mcp(pid):
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"mcp" in argv and any(a.endswith(b"hyperhive.py") or a.endswith(b"hyperhive")
                                  for a in argv)


class Sampler:
    """Peak RSS of a process tree, and of its `hyperhive mcp` processes, every 20 ms."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_mb = self.peak_mcp_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def sample(self):
        pids = tree_of(self.pid)
        total = sum(rss_kb(p) for p in pids) / 1024
        mcp = sum(rss_kb(p) for p in pids if is_mcp(p)) / 1024
        return total, mcp

    def _run(self):
        while not self._stop.is_set():
            total, mcp = self.sample()
            self.peak_mb = max(self.peak_mb, total)
            self.peak_mcp_mb = max(self.peak_mcp_mb, mcp)
            self._stop.wait(0.02)


def stats_rows(root, name, since):
    db = root / "lib" / "agents" / name / "harness" / "hyperhive-turn-stats.sqlite"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("select ended_at, result_kind from turn_stats "
                                "where started_at > ?", (since,)).fetchall()
    except sqlite3.Error:
        return []


def row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


def run(tree, names):
    stub = Stub().start()
    root = B.hive.short_tmpdir("hhten")
    root.chmod(0o711)       # under a root host claude runs as each agent's uid: let it through
    h = None
    try:
        env = claude_env(stub, root / "home")
        env["HYPERHIVE_LOG"] = "stderr"
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            env.pop(key, None)
        h = B.start_host(claude_bin=find_claude(), env=env, root=root / "hive",
                         command=(B.hive.PYTHON, str(Path(tree) / "hyperhive.py")))
        for name in names:
            assert h.admin("spawn", name=name)["ok"], name
        B.hive.wait_for(lambda: all(row(h, n)["turn_state"] == "idle" for n in names), 120,
                        what="every agent to come online")
        B.hive.wait_for(lambda: row(h, "manager")["unread"] == 0
                        and row(h, "manager")["turn_state"] == "idle", 180, interval=0.5,
                        what="the manager to read the spawn messages")
        time.sleep(2.0)
        sampler = Sampler(h.proc.pid)
        idle_mb, idle_mcp_mb = sampler.sample()
        with sampler:
            t0 = time.time()
            for name in names:
                assert h.admin("send", to=name, body="a job: reply with ok")["ok"]
            done = B.hive.wait_for(
                lambda: all(stats_rows(h.root, n, t0) for n in names), 300, interval=0.05,
                what="every agent's turn")
            assert done
            ends = [stats_rows(h.root, n, t0) for n in names]
        wall = max(r[0][0] for r in ends) - t0
        kinds = sorted({r[0][1] for r in ends})
        return {"wall": wall, "idle_mb": idle_mb, "idle_mcp_mb": idle_mcp_mb,
                "peak_mb": sampler.peak_mb, "peak_mcp_mb": sampler.peak_mcp_mb,
                "kinds": kinds}
    finally:
        if h is not None:
            B.stop_host(h)
        stub.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", metavar="TREE", help="another checkout to run first")
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args(argv)
    B.print_machine()
    started = time.monotonic()
    names = job_names(args.agents)
    trees = ([("before", args.before)] if args.before else []) + [("now", str(B.REPO))]
    results = {label: [] for label, _ in trees}
    for _ in range(args.rounds):
        for label, tree in trees:
            r = run(tree, names)
            results[label].append(r)
            print(f"{label:6} ({tree}): {len(names)} jobs done in {r['wall']:.2f} s "
                  f"(turns: {', '.join(r['kinds'])}); the hive's RSS idle {r['idle_mb']:.0f} MB "
                  f"(MCP processes {r['idle_mcp_mb']:.0f}), peak {r['peak_mb']:.0f} MB "
                  f"(MCP processes {r['peak_mcp_mb']:.0f})", flush=True)
    best = {label: min(rs, key=lambda r: r["wall"]) for label, rs in results.items()}
    print(f"\nVERDICT ten agents: {len(names)} jobs in " + ", ".join(
        f"{best[label]['wall']:.2f} s ({label})" for label, _ in trees)
        + f" [{time.monotonic() - started:.0f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
