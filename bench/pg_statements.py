"""What the host asks PostgreSQL per message: a census of the statements the server
received, per send -> parked recv round trip and per message of a 64-sender burst.

A throwaway cluster (tests/pgcluster.py) with `log_statement = all` set on the hive's
database before any host connects; the server's log between two marker statements is
the census. Two hosts on that database as in cross_host.py: A runs alice and carol, B
runs bob. Three phases, each between its markers: `--n` round trips alice -> carol on
A, the same alice on A -> bob on B, and `--seconds` of 64 senders on A's admin socket
(throughput.py's closed loop) to alice. Statements are grouped by their text with the
literals taken out; the hosts' own background work (a heartbeat a second each, their
event relays) lands in the same log and shows as the rows under 1 per message.
Logging every statement slows the server: this script counts, it does not time.
Run: .venv/bin/python bench/pg_statements.py [--n 200] [--seconds 2]
"""

import argparse
import re
import sys
import time
from collections import Counter

import throughput

import benchlib as B

HIVE = "hive"
_STATEMENT = re.compile(r"LOG:  statement: (.*)")
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def census(pg, fn):
    """fn()'s result and a Counter of the statements the server logged meanwhile."""
    pg.query("SELECT 'census-start'", HIVE)
    result = fn()
    time.sleep(0.3)
    pg.query("SELECT 'census-end'", HIVE)
    log = (pg.cluster.dir / "server.log").read_text(errors="replace")
    part = log[log.rindex("census-start"):log.rindex("census-end")]
    found = Counter()
    for line in part.splitlines()[1:]:
        m = _STATEMENT.search(line)
        if m:
            found[" ".join(_LITERALS.sub("?", m.group(1)).split())[:110]] += 1
    return result, found


def show(title, found, per, unit):
    total = sum(found.values())
    print(f"\n{title}: {total} statements, {total / per:.2f} per {unit}")
    for text, count in found.most_common(25):
        print(f"  {count / per:7.3f}  {text}")


def round_trips(h_from, h_to, to, n):
    sender, inbox = B.Conn(h_from.agent_sock("alice")), B.Conn(h_to.agent_sock(to))
    try:
        return B.round_trips(sender, to, inbox, n, park=0.002)
    finally:
        sender.close()
        inbox.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args(argv)
    B.print_machine()
    pg = B.PgBroker().start()
    hosts = []
    try:
        pg.cluster.create_database(HIVE)
        pg.query(f"ALTER DATABASE {HIVE} SET log_statement = 'all'")
        url = pg.cluster.url(HIVE)
        hosts.append(B.start_hive(url, "a", agents=("alice", "carol")))
        hosts.append(B.start_hive(url, "b", agents=("bob",)))
        a, b = hosts
        round_trips(a, a, "carol", 20)            # warm-up
        round_trips(a, b, "bob", 20)
        _, same = census(pg, lambda: round_trips(a, a, "carol", args.n))
        show(f"same host, alice -> carol, {args.n} round trips (acks every 100 included)",
             same, args.n, "round trip")
        _, cross = census(pg, lambda: round_trips(a, b, "bob", args.n))
        show(f"cross-host, alice on A -> bob on B, {args.n} round trips", cross, args.n,
             "round trip")
        sent, burst = census(pg, lambda: throughput.run_level(a, 64, args.seconds))
        show(f"64 senders on A's admin socket for {args.seconds:g} s: {sent['ok']} sends",
             burst, sent["ok"], "message")
    finally:
        for h in hosts:
            B.stop_host(h)
        pg.stop()
    print("\nVERDICT pg_statements: no bar (a census that explains the PostgreSQL figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
