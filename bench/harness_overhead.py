"""Harness overhead per turn, claude's own time excluded.

A real host (process backend) and agent alice with the real claude CLI,
talking to tests/anthropic_stub.py on 127.0.0.1 (every prompt is answered
with a short text, no tools). `--claude-bin` is a small bash wrapper around
the real CLI that appends the wall time (bash's $EPOCHREALTIME, no fork) at
which it starts claude and at which claude has exited to a log file.

For each of ~20 turns the operator sends one message over the admin socket and
this script waits for the turn to be over. Per turn:

  (a) dispatch  = claude start (wrapper mark) - just before the send's sendall:
      the host commits the send, wakes alice's parked recv, the harness takes
      the message, asks for the unread count, records turn_start and the
      thinking state (reported to the host), builds the argv and forks/execs.
  (b) wrap-up   = the harness's `turn_state_changed: idle` event time - claude
      exit (wrapper mark): pipes drained, ack committed by the host, status
      read, the turn_stats row written, turn_end recorded, idle reported.
  overhead      = (a) + (b).

(a) and (b) are also split at the harness's own events (turn_start, the
thinking state, turn_end) read from its hyperhive-events.sqlite.

Both include the wrapper's own bash start and exit (measured separately below
as a calibration, and shown subtracted as well). Also shown: the turn_stats
`duration_ms` (the harness's own measure of claude's run) against the
wrapper's wall time, the host's ack time, and alice's harness RSS when idle
before the turns and after them.

Run: .venv/bin/python bench/harness_overhead.py [--turns 20]
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import benchlib as B
from anthropic_stub import Stub, claude_env, find_claude

BAR_MS = 20.0

WRAPPER = """#!/bin/bash
printf 'start %s %s %s\\n' "$EPOCHREALTIME" "$$" "${HIVE_LABEL:-?}" >> "$HH_BENCH_LOG"
"$HH_BENCH_REAL" "$@"
rc=$?
printf 'end %s %s %s %s\\n' "$EPOCHREALTIME" "$$" "${HIVE_LABEL:-?}" "$rc" >> "$HH_BENCH_LOG"
exit $rc
"""


def marks(log, label):
    """[(start, end)] of completed runs for one agent, from the wrapper's log."""
    runs, open_runs = [], {}
    try:
        lines = Path(log).read_text().splitlines()
    except FileNotFoundError:
        return runs
    for line in lines:
        parts = line.split()
        if len(parts) < 4 or parts[3] != label:
            continue
        if parts[0] == "start":
            open_runs[parts[2]] = float(parts[1])
        elif parts[0] == "end" and parts[2] in open_runs:
            runs.append((open_runs.pop(parts[2]), float(parts[1])))
    return runs


def query(path, sql, args=()):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        return db.execute(sql, args).fetchall()


def calibrate(wrapper, log, n=20):
    """Wrapper cost alone (REAL=/bin/true): Popen -> start mark, end mark -> wait() returns."""
    env = dict(os.environ, HH_BENCH_REAL="/bin/true", HH_BENCH_LOG=str(log), HIVE_LABEL="cal")
    before, after = [], []
    for _ in range(n):
        t0 = time.time()
        subprocess.run([str(wrapper)], env=env, stdin=subprocess.DEVNULL, check=True)
        t1 = time.time()
        start, end = marks(log, "cal")[-1]
        before.append(start - t0)
        after.append(t1 - end)
    return B.percentile(before, 50), B.percentile(after, 50)


def harness_pid(host_pid, name):
    for pid in B.host_children(host_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent" in argv and name.encode() in argv:
            return pid
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--profile", metavar="FILE",
                    help="record alice's harness with py-spy (on-CPU samples only) during the "
                         "turns; the profiler itself slows the harness")
    args = ap.parse_args(argv)
    B.print_machine()
    started = time.monotonic()
    real = find_claude()
    if not os.path.exists(real):
        print(f"no claude CLI at {real}")
        return 2
    root = B.hive.short_tmpdir("hhturn")
    wrapper, log = root / "claude-wrapper.sh", root / "claude-times.log"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    # Under a root host claude runs as each agent's own uid: it must reach the wrapper
    # and append to the one log every agent shares.
    root.chmod(0o711)
    log.touch()
    log.chmod(0o666)
    cal_before, cal_after = calibrate(wrapper, root / "calibration.log")

    stub = Stub().start()
    h = None
    try:
        env = claude_env(stub, root / "home")
        env.update(HYPERHIVE_LOG="stderr", HH_BENCH_REAL=real, HH_BENCH_LOG=str(log))
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            env.pop(key, None)
        h = B.start_host(claude_bin=str(wrapper), env=env, root=root / "hive")
        harness = h.root / "lib" / "agents" / "alice" / "harness"
        events_db = harness / "hyperhive-events.sqlite"
        stats_db = harness / "hyperhive-turn-stats.sqlite"
        broker_db = h.root / "lib" / "broker.sqlite"
        assert h.admin("spawn", name="alice")["ok"]
        B.hive.wait_for(lambda: _row(h, "alice")["turn_state"] == "idle", 60,
                        what="alice's harness to come online")
        # The manager gets a `spawned` message and runs a turn of its own; let it finish.
        B.hive.wait_for(lambda: marks(log, "manager") and _row(h, "manager")["unread"] == 0
                        and _row(h, "manager")["turn_state"] == "idle", 90,
                        what="the manager's turn about the spawn")
        time.sleep(1.0)
        pid = harness_pid(h.proc.pid, "alice")
        rss_idle = B.rss_mb(pid)

        spy = B.py_spy(pid, args.profile, rate=1000, idle=False) if args.profile else None
        admin = B.Conn(h.sock)
        turns = []
        for i in range(args.turns):
            n_runs = len(marks(log, "alice"))
            t_send = time.time()
            admin.send({"cmd": "send", "to": "alice", "body": f"turn {i}: reply with ok"})
            msg_id = admin.read()["id"]

            def idle_after():
                if len(marks(log, "alice")) <= n_runs:
                    return None
                rows = query(events_db, "select ts, payload from events where kind = "
                             "'turn_state_changed' and ts > ? order by id", (t_send,))
                idle = [ts for ts, p in rows if json.loads(p).get("state") == "idle"]
                return idle[-1] if idle else None
            t_idle = B.hive.wait_for(idle_after, 120, interval=0.01, what=f"turn {i} to end")
            start, end = marks(log, "alice")[n_runs]
            seen = {}
            for ts, kind, payload in query(events_db, "select ts, kind, payload from events "
                                           "where ts > ? order by id", (t_send,)):
                key = json.loads(payload).get("state") if kind == "turn_state_changed" else kind
                seen.setdefault(key, ts)
            steps = {"a1": seen["turn_start"] - t_send, "a2": seen["thinking"] - seen["turn_start"],
                     "a3": start - seen["thinking"], "b1": seen["turn_end"] - end,
                     "b2": t_idle - seen["turn_end"]}
            # The stats row and the ack follow the turn's end; wait for them.
            stat = B.hive.wait_for(lambda: (query(
                stats_db, "select duration_ms, result_kind, started_at, ended_at "
                "from turn_stats where started_at > ? order by id desc limit 1", (t_send,))
                or [None])[0], 10, interval=0.01, what=f"turn {i}'s stats row")
            acked = B.hive.wait_for(lambda: query(
                broker_db, "select acked_at from messages where id = ?", (msg_id,))[0][0],
                10, interval=0.01, what=f"turn {i}'s ack")
            turns.append({"a": start - t_send, "b": t_idle - end, "claude": end - start,
                          "duration_ms": stat[0], "kind": stat[1],
                          "ack": (acked - end) if acked else None, **steps})
            time.sleep(0.3)
        admin.close()
        B.stop_py_spy(spy)
        time.sleep(1.0)
        rss_after = B.rss_mb(pid)
        hwm = int(B.status_field(pid, "VmHWM").split()[0]) / 1024
        stub_prompts = sum(1 for r in stub.main_requests() if "alice" in str(r["system"]))
    finally:
        if h is not None:
            B.stop_host(h)
        stub.stop()
        shutil.rmtree(root, ignore_errors=True)

    ms = lambda xs: [x * 1000 for x in xs]   # noqa: E731
    a = ms(t["a"] for t in turns)
    b = ms(t["b"] for t in turns)
    total = [x + y for x, y in zip(a, b)]
    wrap = (cal_before + cal_after) * 1000
    corrected = [x - wrap for x in total]
    claude_ms = ms(t["claude"] for t in turns)
    gap = [t["duration_ms"] - c for t, c in zip(turns, claude_ms)]
    acks = ms(t["ack"] for t in turns if t["ack"] is not None)
    kinds = sorted({t["kind"] for t in turns})

    def row(label, xs):
        print(f"{label:54} p50 {B.percentile(xs, 50):8.1f}  p95 {B.percentile(xs, 95):8.1f}  "
              f"max {max(xs):8.1f}")
    print(f"\n{len(turns)} text-only turns (outcomes: {', '.join(kinds)}; the stub saw "
          f"{stub_prompts} prompt requests from alice); ms")
    row("(a) send -> claude starts", a)
    row("    a1 send -> harness event turn_start", ms(t["a1"] for t in turns))
    row("    a2 turn_start -> state thinking", ms(t["a2"] for t in turns))
    row("    a3 thinking -> claude starts (report, argv, fork/exec)", ms(t["a3"] for t in turns))
    row("(b) claude exits -> harness idle", b)
    row("    b1 claude exits -> event turn_end", ms(t["b1"] for t in turns))
    row("    b2 turn_end -> state idle", ms(t["b2"] for t in turns))
    row("(a)+(b) overhead per turn", total)
    row(f"(a)+(b) minus the wrapper's own {wrap:.1f} ms", corrected)
    row("    of which claude exit -> host committed the ack", acks)
    row("claude's own wall time (wrapper marks)", claude_ms)
    row("turn_stats duration_ms - claude's wall time", gap)
    print(f"wrapper calibration (/bin/true): launch -> start mark {cal_before * 1000:.1f} ms, "
          f"end mark -> exit seen {cal_after * 1000:.1f} ms")
    print(f"alice's harness RSS: {rss_idle:.1f} MB idle before the turns, {rss_after:.1f} MB "
          f"after {len(turns)} turns (peak {hwm:.1f} MB)")
    p50, p95 = B.percentile(total, 50), B.percentile(total, 95)
    passed = p95 <= BAR_MS and kinds == ["ok"]
    print(f"\nVERDICT harness overhead: {B.verdict(passed)} — (a)+(b) p50 {p50:.1f} ms, "
          f"p95 {p95:.1f} ms (bar {BAR_MS:.0f} ms per turn); without the wrapper's own cost "
          f"p50 {B.percentile(corrected, 50):.1f} ms, p95 {B.percentile(corrected, 95):.1f} ms "
          f"[{time.monotonic() - started:.0f} s]")
    return 0 if passed else 1


def _row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


if __name__ == "__main__":
    sys.exit(main())
