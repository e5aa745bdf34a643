"""Durable throughput: concurrent senders on the admin socket, all to alice.

A real host (process backend, no Anthropic credentials: alice's harness waits
in needs_login_idle and takes nothing). For each level N in 1, 8, 32, 64 this
client opens N persistent connections to the admin socket and keeps exactly
one `send` in flight on each (closed loop) for ~5 s, driven by one selector
loop so that the client's own cost stays small and visible. A send counts when
its `{"ok":true}` reply arrives, i.e. after the host committed it.

Afterwards the messages are counted back through alice's broker.sock
(`recv{max:32}` + `ack` until empty): the number delivered must equal the
number acknowledged. The database's journal mode is read with the sqlite3
CLI; `synchronous` is per connection, so it is read from the host's own
Store code path (hyperhive.store.Store on a scratch file). Finally strace
counts the host's fsync/fdatasync calls during a short extra burst at the best
level's number of senders, for the fsyncs per message (that burst is slowed by
tracing and is not part of the throughput figures).

Run: .venv/bin/python bench/throughput.py [--seconds 5] [--levels 1,8,32,64]
"""

import argparse
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import benchlib as B

BAR = 20_000      # SPEC §11: durable messages a second, 64 senders


class Sender:
    def __init__(self, path, idx):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.sock.setblocking(False)
        self.idx = idx
        self.buf = bytearray()
        self.seq = 0
        self.sent_at = 0.0

    def fire(self):
        self.seq += 1
        self.sent_at = time.perf_counter()
        line = json.dumps({"cmd": "send", "to": "alice", "body": f"s{self.idx}-{self.seq}"})
        self.sock.sendall(line.encode() + b"\n")   # small: fits the socket buffer


def run_level(h, n, seconds):
    sel = selectors.DefaultSelector()
    senders = [Sender(h.sock, i) for i in range(n)]
    for s in senders:
        sel.register(s.sock, selectors.EVENT_READ, s)
    ok = errors = 0
    lat = []
    cpu0, client0 = B.cpu_ticks(h.proc.pid), os.times()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    for s in senders:
        s.fire()
    inflight = n
    while inflight:
        for key, _ in sel.select(timeout=30):
            s = key.data
            chunk = s.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the host closed a sender's connection")
            s.buf += chunk
            while True:
                nl = s.buf.find(b"\n")
                if nl < 0:
                    break
                reply = json.loads(bytes(s.buf[:nl]))
                del s.buf[:nl + 1]
                now = time.perf_counter()
                inflight -= 1
                if reply.get("ok"):
                    ok += 1
                    lat.append(now - s.sent_at)
                else:
                    errors += 1
                if now < deadline:
                    s.fire()
                    inflight += 1
    elapsed = time.perf_counter() - t0
    host_cpu = (B.cpu_ticks(h.proc.pid) - cpu0) / B.CLK_TCK
    client1 = os.times()
    client_cpu = (client1.user - client0.user) + (client1.system - client0.system)
    for s in senders:
        sel.unregister(s.sock)
        s.sock.close()
    sel.close()
    return {"n": n, "ok": ok, "errors": errors, "elapsed": elapsed, "rate": ok / elapsed,
            "lat": B.summary_ms(lat), "host_cpu_pct": 100 * host_cpu / elapsed,
            "client_cpu_pct": 100 * client_cpu / elapsed}


def drain(h):
    """Take and ack everything in alice's inbox; the number of messages taken."""
    inbox = B.Conn(h.agent_sock("alice"))
    total = 0
    try:
        while True:
            msgs = inbox.call("recv", wait_seconds=0, max=32)["messages"]
            if not msgs:
                return total
            total += len(msgs)
            inbox.call("ack", ids=[m["id"] for m in msgs])
    finally:
        inbox.close()


def journal_mode(db):
    if not shutil.which("sqlite3"):
        return "? (no sqlite3 CLI)"
    out = subprocess.run(["sqlite3", str(db), "PRAGMA journal_mode;"], capture_output=True,
                         text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def synchronous_of_store():
    """PRAGMA synchronous as the host's Store sets it (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA)."""
    sys.path.insert(0, str(B.REPO))
    from hyperhive.store import Store
    d = tempfile.mkdtemp(prefix="hhsync", dir="/tmp")
    try:
        store = Store(os.path.join(d, "probe.sqlite"))
        value = store.db.execute_sql("PRAGMA synchronous").fetchone()[0]
        mode = store.db.execute_sql("PRAGMA journal_mode").fetchone()[0]
        store.close()
        return value, mode
    finally:
        shutil.rmtree(d, ignore_errors=True)


def fsync_count(h, n=8, seconds=1.5):
    """Sends and fsync-family syscalls of the host during a short traced burst."""
    if not shutil.which("strace"):
        return None
    out = os.path.join(h.root, "strace.txt")
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-c", "-o", out, "-e",
                               "trace=fsync,fdatasync", "-p", str(h.proc.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        level = run_level(h, n, seconds)
    finally:
        tracer.send_signal(2)
        tracer.wait(30)
    calls = 0
    for line in open(out).read().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync"):
            calls += int(parts[3])
    return level["ok"], calls


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--levels", default="1,8,32,64")
    ap.add_argument("--profile", metavar="FILE",
                    help="record the host with py-spy (collapsed stacks) during the levels")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    B.print_machine()
    started = time.monotonic()
    load = B.LoadMeter()
    h = B.start_host()
    try:
        assert h.admin("spawn", name="alice")["ok"]
        B.hive.wait_for(lambda: _row(h, "alice").get("needs_login"), 30,
                        what="alice's harness to wait for a login")
        run_level(h, 4, 0.5)     # warm-up
        warm = drain(h)
        spy = (B.py_spy(h.proc.pid, args.profile, rate=2000, idle=False)
               if args.profile else None)
        results = []
        for n in levels:
            results.append(run_level(h, n, args.seconds))
            r = results[-1]
            print(f"  {n:3d} senders: {r['ok']:7d} ok in {r['elapsed']:.2f} s = "
                  f"{r['rate']:8.0f} msg/s; send latency p50 {r['lat']['p50']:.2f} ms "
                  f"p99 {r['lat']['p99']:.2f} ms; host CPU {r['host_cpu_pct']:.0f}% of a core, "
                  f"client CPU {r['client_cpu_pct']:.0f}%", flush=True)
        B.stop_py_spy(spy)
        acked = sum(r["ok"] for r in results)
        unread = _row(h, "alice")["unread"]
        delivered = drain(h)
        fs = fsync_count(h, n=max(results, key=lambda r: r["rate"])["n"])
        fs_drained = drain(h)
        db = h.root / "lib" / "broker.sqlite"
        mode = journal_mode(db)
    finally:
        B.stop_host(h)
    sync, store_mode = synchronous_of_store()
    busy = load.busy_pct()

    best = max(results, key=lambda r: r["rate"])
    print(f"\nacknowledged {acked} (+{warm} warm-up), unread before draining {unread}, "
          f"drained through alice's socket {delivered}: "
          f"{'MATCH' if delivered == acked == unread else 'MISMATCH'}")
    print(f"broker.sqlite journal_mode (sqlite3 CLI): {mode}; the host's Store connection: "
          f"journal_mode={store_mode}, synchronous={sync} "
          f"({ {0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'}.get(sync, '?') })")
    if fs:
        print(f"strace burst ({best['n']} senders, slowed by tracing): {fs[0]} sends "
              f"acknowledged, {fs[1]} fsync/fdatasync calls by the host: "
              f"{fs[1] / max(fs[0], 1):.3f} fsyncs per message ({fs_drained} drained)")
    print(f"machine CPU busy during the run (all processes, incl. host and client): {busy:.0f}%")
    passed = best["rate"] >= BAR and delivered == acked
    print(f"\nVERDICT throughput: {B.verdict(passed)} — best {best['rate']:.0f} msg/s at "
          f"{best['n']} senders (bar {BAR}), every one fsynced before its reply; counts "
          f"{'match' if delivered == acked else 'DIFFER'}"
          f" [{time.monotonic() - started:.0f} s]")
    return 0 if passed else 1


def _row(h, name):
    return next(r for r in h.admin("status")["agent_statuses"] if r["name"] == name)


if __name__ == "__main__":
    sys.exit(main())
