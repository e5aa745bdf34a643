"""send -> the recipient's parked recv returns: the host on sqlite and on PostgreSQL,
against redis.

hyperhive: two real hosts (process backend, no Anthropic credentials, so alice's
harness waits in needs_login_idle and never calls recv), one on its sqlite file and
one with `--broker postgresql://...` on the tests' throwaway cluster
(tests/pgcluster.py: unix socket, fsync on). Rounds alternate between them (sqlite
first in odd rounds, PostgreSQL first in even ones), so load on the machine hits
both alike. Per host, one client holds two persistent unix connections: alice's
broker.sock, where it parks `recv{wait_seconds:30}`, and the admin socket, where it
sends as the operator. The clock starts just before the send's sendall and stops
when the recv reply line has arrived; the send's own reply is read afterwards
(outside the timing). Each delivered message is checked to be the one just sent,
which also shows that nobody else took alice's messages. Host CPU per round trip is
the host process's own; on PostgreSQL the server's processes' CPU is counted apart.

redis: the same pattern through redis-py connections on a private
redis-server (unix socket): the receiver sends BLPOP, the sender LPUSH; the
clock runs from just before LPUSH is written to the BLPOP reply. Two servers:
`--save "" --appendonly no` (memory only) and `--appendonly yes --appendfsync
always` (each write fsynced, the durable comparison).

Both sides run single-threaded in this client, so no thread hand-off sits in
the measured path. SPEC §11's bars are judged on sqlite (the default broker);
PostgreSQL's figures stand beside them (§13's bar is cross_host.py's).
Run: .venv/bin/python bench/latency.py [--n 1000] [--rounds 2] [--stores sqlite,postgresql]
"""

import argparse
import sys
import time

import benchlib as B

PARK = 0.002     # let the receiver's request reach the server and park
P50_BAR, P99_BAR, CPU_BAR = 0.8, 3.0, 0.4     # ms (SPEC §11)
STORES = ("sqlite", "postgresql")


def bench_round(h, store, pg, n, warmup):
    admin, inbox = B.Conn(h.sock), B.Conn(h.agent_sock("alice"))
    try:
        def run():
            return B.round_trips(admin, "alice", inbox, n, warmup, pids=[h.proc.pid],
                                 pg=pg if store == "postgresql" else None, park=PARK)
        if store != "postgresql":
            return run()
        (samples, acks, cpu), counts = pg.counted(run, n + warmup)
        return samples, acks, {**cpu, **counts}
    finally:
        admin.close()
        inbox.close()


def checks(h, sent):
    inbox = B.Conn(h.agent_sock("alice"))
    try:
        row = B.agent_row(h, "alice")
        return {"sent": sent, "unread_after": row["unread"],
                "harness_needs_login": row["needs_login"],
                "requeued": inbox.call("requeue")["requeued"],
                "host_threads": B.threads(h.proc.pid), "host_rss_mb": B.rss_mb(h.proc.pid)}
    finally:
        inbox.close()


def bench_hosts(stores, n, warmup, rounds, profile=None):
    """{store: [(samples, send_acks, cpu) per round]}, {store: checks}."""
    pg = B.PgBroker().start() if "postgresql" in stores else None
    hosts, spies = {}, []
    try:
        for store in stores:
            hosts[store] = B.start_hive(pg.new_url() if store == "postgresql" else None)
            if profile:
                spies.append(B.py_spy(hosts[store].proc.pid, f"{profile}.{store}",
                                      rate=2000, idle=False))
        out = {store: [] for store in stores}
        for rnd in range(rounds):
            for store in (stores if rnd % 2 == 0 else stores[::-1]):
                out[store].append(bench_round(hosts[store], store, pg, n, warmup))
                s = B.summary_ms(out[store][-1][0])
                print(f"round {rnd + 1} {store:10}: p50 {s['p50']:.3f} ms, p99 {s['p99']:.3f} ms",
                      flush=True)
        return out, {store: checks(h, rounds * (n + warmup)) for store, h in hosts.items()}
    finally:
        for spy in spies:
            B.stop_py_spy(spy)
        for h in hosts.values():
            B.stop_host(h)
        if pg:
            pg.stop()


def bench_redis(n, warmup, durable):
    from redis.connection import UnixDomainSocketConnection
    server = B.RedisServer(durable=durable).start()
    try:
        recv = UnixDomainSocketConnection(path=str(server.sock), socket_timeout=60)
        send = UnixDomainSocketConnection(path=str(server.sock), socket_timeout=60)
        recv.connect()
        send.connect()
        send.send_command("DEL", "q")
        send.read_response()
        samples = []
        for i in range(warmup + n):
            recv.send_command("BLPOP", "q", 30)
            time.sleep(PARK)
            t0 = time.perf_counter()
            send.send_command("LPUSH", "q", f"m{i}")
            got = recv.read_response()
            t1 = time.perf_counter()
            send.read_response()
            if got is None or got[1] != f"m{i}".encode():
                raise RuntimeError(f"redis round trip {i}: {got}")
            if i >= warmup:
                samples.append(t1 - t0)
        recv.disconnect()
        send.disconnect()
        return samples
    finally:
        server.stop()


def pooled(runs, index):
    return B.summary_ms([x for run in runs for x in run[index]])


def cpu_mean(runs):
    keys = [k for k, v in runs[0][2].items() if not isinstance(v, list)]
    return {k: sum(run[2][k] for run in runs) / len(runs) for k in keys}


def report(stores, runs, info, s_rd, s_rf):
    cols = [(f"{store} r{i + 1}", B.summary_ms(run[0]))
            for store in stores for i, run in enumerate(runs[store])]
    cols += [(f"{store} (all)", pooled(runs[store], 0)) for store in stores]
    cols += [("redis (memory)", s_rd), ("redis (fsync)", s_rf)]
    print(f"{'':8}" + "".join(f"{name:>18}" for name, _ in cols))
    for key in ("p50", "p90", "p99", "max", "mean"):
        print(f"{key:8}" + "".join(f"{s[key]:>18.3f}" for _, s in cols))
    for store in stores:
        s, a, c, i = (pooled(runs[store], 0), pooled(runs[store], 1), cpu_mean(runs[store]),
                      info[store])
        print(f"\n{store}: ratio to redis fsync-always p50 {s['p50'] / s_rf['p50']:.2f}x, "
              f"p99 {s['p99'] / s_rf['p99']:.2f}x; to redis memory p50 "
              f"{s['p50'] / s_rd['p50']:.2f}x")
        print(f"  send reply (send -> its own ok, read after the recv): p50 {a['p50']:.3f} ms, "
              f"p99 {a['p99']:.3f} ms")
        print(f"  host CPU per round trip: {c['user'] + c['sys']:.3f} ms ({c['user']:.3f} in "
              f"Python, {c['sys']:.3f} in the kernel)"
              + (f"; PostgreSQL server processes {c['pg']:.3f} ms, {c['write_tx']:.2f} "
                 f"transactions that wrote or NOTIFYed and {c['wal_bytes']:,.0f} bytes of WAL "
                 f"per round trip"
                 if store == "postgresql" else ""))
        print(f"  checks: {i['sent']} sent, each delivered as the message just sent; alice "
              f"unread afterwards {i['unread_after']}, requeue put back {i['requeued']}; "
              f"needs_login={i['harness_needs_login']}; host threads {i['host_threads']}, "
              f"RSS {i['host_rss_mb']:.1f} MB")
    if set(STORES) <= set(stores):
        q, p = pooled(runs["sqlite"], 0), pooled(runs["postgresql"], 0)
        print(f"\nPostgreSQL / sqlite: p50 {p['p50'] / q['p50']:.2f}x, "
              f"p99 {p['p99'] / q['p99']:.2f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="timed round trips per round")
    ap.add_argument("--warmup", type=int, default=100, help="untimed ones before each round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--stores", default=",".join(STORES))
    ap.add_argument("--profile", metavar="FILE",
                    help="record each host with py-spy (collapsed stacks) to FILE.<store>")
    args = ap.parse_args(argv)
    stores = tuple(args.stores.split(","))
    B.print_machine()
    started = time.monotonic()
    load = B.LoadMeter()

    runs, info = bench_hosts(stores, args.n, args.warmup, args.rounds, args.profile)
    s_rd = B.summary_ms(bench_redis(args.n * args.rounds, args.warmup, durable=False))
    s_rf = B.summary_ms(bench_redis(args.n * args.rounds, args.warmup, durable=True))
    busy = load.busy_pct()

    print(f"\n{args.n} round trips per round after {args.warmup} warm-up, "
          f"{args.rounds} rounds; redis {args.n * args.rounds} each; ms")
    report(stores, runs, info, s_rd, s_rf)
    print(f"machine CPU busy during the run (everything): {busy:.0f}%")
    return verdict(stores, runs, s_rf, started)


def verdict(stores, runs, s_rf, started):
    pg = ""
    if "postgresql" in stores:
        p, c = pooled(runs["postgresql"], 0), cpu_mean(runs["postgresql"])
        pg = (f"; PostgreSQL (no §11 bar) p50 {p['p50']:.3f} ms, p99 {p['p99']:.3f} ms, "
              f"host CPU {c['user'] + c['sys']:.2f} ms + server {c['pg']:.2f} ms")
    if "sqlite" not in stores:
        print(f"\nVERDICT latency: no bar judged (sqlite not run){pg}")
        return 0
    s, c = pooled(runs["sqlite"], 0), cpu_mean(runs["sqlite"])
    cpu = c["user"] + c["sys"]
    bars = [  # SPEC §11, on sqlite
        ("p50", s["p50"], P50_BAR, f"{s['p50']:.3f} ms (bar {P50_BAR})"),
        ("p99", s["p99"], P99_BAR, f"{s['p99']:.3f} ms (bar {P99_BAR})"),
        ("p50 against redis fsync-always", s["p50"] / s_rf["p50"], 1.0,
         f"{s['p50'] / s_rf['p50']:.2f}x (bar 1x)"),
        ("host CPU per round trip", cpu, CPU_BAR, f"{cpu:.2f} ms (bar {CPU_BAR})"),
    ]
    all_ok = all(value <= bar for _, value, bar, _ in bars)
    print(f"\nVERDICT latency: {B.verdict(all_ok)} — sqlite " + ", ".join(
        f"{name} {text} {B.verdict(value <= bar)}" for name, value, bar, text in bars)
        + f"{pg} [{time.monotonic() - started:.0f} s]")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
