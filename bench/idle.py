"""1,000 agents parked in recv, nothing happening: the host's CPU and memory.

A real host (process backend, no Anthropic credentials). Agents are registered
with admin `spawn` and then stopped with admin `stop`, so their harness
processes are gone and only their broker.sock sockets remain (the manager's own
harness keeps running, waiting for a login, as on any host).

SPEC §7 gives each agent the page port 8100 + FNV-1a-32(name) % 900 and refuses a
clash, so one host holds at most 900 agents besides the manager: names are chosen
to fill those 900 ports. This client then holds `--recvs` connections (1,000 by
default) spread over the agents' sockets, each with a parked
`recv{wait_seconds:170}`, from one thread. After a short settle the
host process is watched for 30 s: CPU from /proc/<pid>/stat (utime+stime, all
threads) as % of one core, context switches (how often it woke at all), RSS
and threads from /proc/<pid>/status. The dashboard is off (--dashboard-port 0),
as for every benchmark here.

Run: .venv/bin/python bench/idle.py [--agents 900] [--recvs 1000] [--seconds 30]
"""

import argparse
import resource
import select
import sys
import threading
import time
from pathlib import Path

import benchlib as B

CPU_BAR = 1.0
RSS_BAR = 150.0
PORT_SLOTS = 900


def pick_names(count):
    """a0001, a0002, ... skipping a name whose page port another has taken.

    The host gives agent `n` the port base+100+fnv1a32(n)%900 and refuses a spawn
    whose port is taken, so the names are those of the first `count` ports to be
    filled (all 900 of them at most), in order; returns them and how many were skipped.
    """
    sys.path.insert(0, str(B.REPO))
    from hyperhive.lifecycle import fnv1a32
    count = min(count, PORT_SLOTS)
    names, slots, skipped, i = [], set(), 0, 0
    while len(names) < count:
        i += 1
        name = f"a{i:04d}"
        slot = fnv1a32(name) % PORT_SLOTS
        if slot in slots:
            skipped += 1
            continue
        slots.add(slot)
        names.append(name)
    return names, skipped


def raise_own_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def in_parallel(fn, items, workers=8):
    """Run fn(item) on a few threads; the exceptions raised, if any."""
    items = list(items)
    errors = []
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not items:
                    return
                item = items.pop()
            try:
                fn(item)
            except Exception as exc:   # reported, not fatal here
                errors.append((item, exc))
    ts = [threading.Thread(target=work) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def ctx_switches(pid):
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=PORT_SLOTS)
    ap.add_argument("--recvs", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=5.0)
    args = ap.parse_args(argv)
    B.print_machine()
    started = time.monotonic()
    names, skipped = pick_names(args.agents)
    print(f"agents {names[0]}..{names[-1]}: {len(names)} names, {skipped} skipped for a "
          f"page-port clash; {args.recvs} parked recvs over their sockets")
    raise_own_fd_limit(args.recvs + 100)
    h = B.start_host()
    conns = []
    try:
        pid = h.proc.pid
        rss_empty = B.rss_mb(pid)

        def spawn_and_stop(name):
            r = B.hive.request(h.sock, {"cmd": "spawn", "name": name}, timeout=60)
            if not r.get("ok"):
                raise RuntimeError(f"spawn {name}: {r}")
            r = B.hive.request(h.sock, {"cmd": "stop", "name": name}, timeout=60)
            if not r.get("ok"):
                raise RuntimeError(f"stop {name}: {r}")
        errors = in_parallel(spawn_and_stop, names)
        if errors:
            raise RuntimeError(f"{len(errors)} agents failed: {errors[:3]}")
        setup_s = time.monotonic() - started
        rows = {r["name"]: r for r in h.admin("status")["agent_statuses"]}
        running = [n for n in names if rows[n]["running"]]
        harnesses = B.host_children(pid)

        for i in range(args.recvs):
            c = B.Conn(h.agent_sock(names[i % len(names)]))
            c.send({"cmd": "recv", "wait_seconds": 170, "max": 1})
            conns.append(c)
        time.sleep(args.settle)

        ticks0, sw0, t0 = B.cpu_ticks(pid), ctx_switches(pid), time.monotonic()
        load = B.LoadMeter()
        time.sleep(args.seconds)
        ticks1, sw1, t1 = B.cpu_ticks(pid), ctx_switches(pid), time.monotonic()
        busy = load.busy_pct()
        rss = B.rss_mb(pid)
        hwm = int(B.status_field(pid, "VmHWM").split()[0]) / 1024
        nthreads = B.threads(pid)
        readable, _, _ = select.select([c.sock for c in conns], [], [], 0)
        still_parked = len(conns) - len(readable)
        # The parked recvs are real: one message to one agent wakes exactly that one.
        h.admin("send", to=names[0], body="wake up")
        woke = conns[0].read()
        woke_ok = woke.get("ok") and [m["body"] for m in woke["messages"]] == ["wake up"]
    finally:
        for c in conns:
            c.close()
        B.stop_host(h)

    cpu_pct = 100.0 * (ticks1 - ticks0) / B.CLK_TCK / (t1 - t0)
    wakeups = (sw1 - sw0) / (t1 - t0)
    print(f"\nsetup: {len(names)} agents spawned and stopped in {setup_s:.0f} s; still running "
          f"afterwards: {len(running)} of them; host children {len(harnesses)} (the manager's "
          "harness)")
    waited = args.settle + args.seconds
    print(f"{still_parked}/{len(conns)} recvs still parked after {waited:.0f} s;"
          f" a send to {names[0]} woke its recv with that message: {bool(woke_ok)}")
    print(f"host over {t1 - t0:.1f} s: CPU {cpu_pct:.2f}% of one core "
          f"({ticks1 - ticks0} ticks of 1/{B.CLK_TCK} s), {wakeups:.1f} context switches/s, "
          f"RSS {rss:.1f} MB (peak {hwm:.1f} MB, {rss_empty:.1f} MB before the agents), "
          f"{nthreads} threads")
    print(f"machine CPU busy meanwhile (everything): {busy:.0f}%")
    passed = cpu_pct <= CPU_BAR and rss <= RSS_BAR and still_parked == len(conns)
    print(f"\nVERDICT idle: {B.verdict(passed)} — CPU {cpu_pct:.2f}% (bar {CPU_BAR}%) "
          f"{B.verdict(cpu_pct <= CPU_BAR)}, RSS {rss:.1f} MB (bar {RSS_BAR:.0f}) "
          f"{B.verdict(rss <= RSS_BAR)}, threads {nthreads} "
          f"[{time.monotonic() - started:.0f} s]")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
